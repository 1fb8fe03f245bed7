// A run's own webhook (POST /runs `webhook: { url }`): checked before the run starts, so a run is
// never created with a URL that could not be called or a secret that does not exist.
import { webhookConfig, webhookConfigAgain } from "./config-cache";
import { webhookUrlRefusal } from "./webhook-url";

export type RunWebhookRefusal = { code: "webhook_url_not_allowed" | "webhook_signing_secret_missing"; message: string };

/**
 * Why a run may not carry this webhook, or undefined. The secret is looked for in this isolate's
 * copy of the tenant's configuration (config-cache.ts): a secret once made is only ever replaced,
 * so a copy that has one is right, and only a copy without one is read again (at most once a
 * second per tenant); the tenant's outbox sees no request per run.
 */
export async function runWebhookRefusal(env: Env, tenant: string, url: string): Promise<RunWebhookRefusal | undefined> {
  const refusal = webhookUrlRefusal(url, env.HTTP_TOOL_ALLOWLIST);
  if (refusal) return { code: "webhook_url_not_allowed", message: refusal };
  const hasSecret = async () =>
    (await webhookConfig(env, tenant, Date.now())).run_secret !== null || (await webhookConfigAgain(env, tenant, Date.now())).run_secret !== null;
  if (!(await hasSecret()))
    return {
      code: "webhook_signing_secret_missing",
      message:
        "A run's webhook is signed with this tenant's run-webhook secret, and there is none yet: create it with POST /api/v1/webhooks/signing-secret (it is shown once), then start the run again.",
    };
  return undefined;
}
