// A run's own webhook (POST /runs `webhook: { url }`): checked before the run starts, so a run is
// never created with a URL that could not be called or a secret that does not exist.
import { webhookUrlRefusal } from "./webhook-url";

export type RunWebhookRefusal = { code: "webhook_url_not_allowed" | "webhook_signing_secret_missing"; message: string };

/** Why a run may not carry this webhook, or undefined. One request to the tenant's outbox. */
export async function runWebhookRefusal(env: Env, tenant: string, url: string): Promise<RunWebhookRefusal | undefined> {
  const refusal = webhookUrlRefusal(url, env.HTTP_TOOL_ALLOWLIST);
  if (refusal) return { code: "webhook_url_not_allowed", message: refusal };
  if (!(await env.WEBHOOKS.getByName(tenant).hasRunSecret()))
    return {
      code: "webhook_signing_secret_missing",
      message:
        "A run's webhook is signed with this tenant's run-webhook secret, and there is none yet: create it with POST /api/v1/webhooks/signing-secret (it is shown once), then start the run again.",
    };
  return undefined;
}
