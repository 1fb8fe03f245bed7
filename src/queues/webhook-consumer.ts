// Consumer of the webhook queues (crane-webhooks, crane-webhooks-1, …: webhook-queues.ts): runs'
// milestones (notices) and the retries this consumer sends itself. Per tenant in a batch:
//   notices → targets from this isolate's copy of the tenant's configuration (config-cache.ts; a
//             request to its WebhookOutbox only on a miss) → one signed POST per target;
//   retries → one `claim` request to the outbox (each due delivery's body and current secret) → POST;
//   then one `record` request with every attempt, and one sendBatch of the retries that follow,
//   each delayed by the delivery policy's wait (delivery-policy.ts); then each run whose notices
//   were recorded is told so (one request to its own object), and stops keeping them.
// So the outbox sees about two requests per tenant per batch however many runs ended, and the
// queue, not one object, carries a busy tenant's deliveries. Messages are acked once recorded; if
// the outbox cannot be reached, the tenant's messages are retried by the queue (their POSTs
// again, with the same webhook-id: delivery is at least once, and recording once).
import { sha256Hex } from "../lib/hash";
import { errorFields, log } from "../lib/log";
import { noteConfigVersion, webhookConfig, webhookConfigAgain, type WebhookConfig } from "../durable/webhooks/config-cache";
import { RUN_END_EVENTS, webhookMessageSchema, type NoticeMessage, type RetryMessage, type WebhookBody } from "../durable/webhooks/notice";
import { sendAttempt } from "../durable/webhooks/send-attempt";
import { validMessages } from "./valid-messages";
import { runClient } from "../durable/run/run-client";
import type { AttemptOutcome } from "../durable/webhooks/webhook-outbox";

interface Target {
  subscription_id: string | null;
  url: string;
  secret: string;
}

/** One POST to make, and what to record with it. */
interface Planned {
  delivery_id: string;
  attempt: number;
  url: string;
  secret: string;
  body: string;
  first?: AttemptOutcome["first"];
}

interface TenantWork {
  messages: Message<unknown>[];
  notices: NoticeMessage[];
  retries: RetryMessage[];
}

export async function consumeWebhooks(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const tenants = new Map<string, TenantWork>();
  for (const { message, body: msg } of validMessages(batch, webhookMessageSchema, "webhook.bad_message")) {
    const work = tenants.get(msg.tenant) ?? { messages: [], notices: [], retries: [] };
    work.messages.push(message);
    if (msg.kind === "notice") work.notices.push(msg);
    else work.retries.push(msg);
    tenants.set(msg.tenant, work);
  }
  await Promise.all([...tenants].map(([tenant, work]) => serveTenant(env, tenant, work)));
}

async function serveTenant(env: Env, tenant: string, work: TenantWork): Promise<void> {
  try {
    const outbox = env.WEBHOOKS.getByName(tenant);
    const planned = new Map<string, Planned>();
    const plan = (p: Planned) => planned.set(`${p.delivery_id}#${p.attempt}`, p);
    for (const p of await noticeAttempts(env, tenant, work.notices)) plan(p);
    const later: { delivery_id: string; attempt: number; at: number }[] = [];
    if (work.retries.length > 0) {
      const { now, claims } = await outbox.claim(work.retries.map((r) => ({ delivery_id: r.delivery_id, attempt: r.attempt })));
      for (const c of claims) {
        if (c.kind === "send") plan({ delivery_id: c.delivery_id, attempt: c.attempt, url: c.url, secret: c.secret, body: c.body });
        // Early by the outbox's clock: sent again for the rest of the wait.
        if (c.kind === "wait") later.push({ delivery_id: c.delivery_id, attempt: c.attempt, at: Date.now() + (c.until - now) });
      }
    }
    const outcomes = await Promise.all([...planned.values()].map((p) => attempt(env, p)));
    if (outcomes.length > 0) {
      const { version, recorded } = await outbox.record(tenant, outcomes);
      noteConfigVersion(tenant, version);
      for (const r of recorded) if (r.next) later.push({ delivery_id: r.delivery_id, ...r.next });
    }
    if (later.length > 0)
      await env.WEBHOOK_RETRIES.sendBatch(
        later.map((l) => ({
          body: { kind: "retry", tenant, delivery_id: l.delivery_id, attempt: l.attempt } satisfies RetryMessage,
          delaySeconds: Math.max(0, Math.ceil((l.at - Date.now()) / 1000)),
        })),
      );
    await confirmRecorded(env, tenant, work.notices);
    for (const m of work.messages) m.ack();
  } catch (err) {
    log.error("webhook.batch_failed", { tenant, messages: work.messages.length, ...errorFields(err) });
    for (const m of work.messages) m.retry({ delaySeconds: Math.min(300, 5 * 2 ** (m.attempts - 1)) });
  }
}

/**
 * Tells each run that the outbox has its milestones, so it does not send them again (one request to
 * each run's own object, never a shared one). A run not told sends again after RESEND_AFTER_MS:
 * then the receiver may see a POST twice, with one webhook-id, and the outbox records it once.
 */
async function confirmRecorded(env: Env, tenant: string, notices: NoticeMessage[]): Promise<void> {
  const byRun = new Map<string, number[]>();
  for (const n of notices) byRun.set(n.run_id, [...(byRun.get(n.run_id) ?? []), n.seq]);
  await Promise.all(
    [...byRun].map(async ([runId, seqs]) => {
      try {
        await runClient(env, runId).webhooksRecorded(tenant, seqs);
      } catch (err) {
        log.warn("webhook.confirm_failed", { tenant, run_id: runId, ...errorFields(err) });
      }
    }),
  );
}

/** Each notice's first attempts: one per target its tenant's configuration gives it. */
async function noticeAttempts(env: Env, tenant: string, notices: NoticeMessage[]): Promise<Planned[]> {
  if (notices.length === 0) return [];
  let config = await webhookConfig(env, tenant, Date.now());
  // A run sends a notice only when someone asked for it: a copy that finds no one may predate them.
  if (notices.some((n) => !complete(config, n))) config = await webhookConfigAgain(env, tenant, Date.now());
  const planned: Planned[] = [];
  for (const n of notices) {
    const body: WebhookBody = { type: n.type, timestamp: n.at, data: { run: n.run } };
    const text = JSON.stringify(body);
    const createdAt = Date.now();
    for (const t of targetsOf(config, n)) {
      const delivery_id = `msg_${(await sha256Hex(`${n.run_id}:${n.seq}:${t.subscription_id ?? "run"}`)).slice(0, 32)}`;
      planned.push({
        delivery_id,
        attempt: 1,
        url: t.url,
        secret: t.secret,
        body: text,
        first: {
          subscription_id: t.subscription_id,
          url: t.url,
          type: n.type,
          run_id: n.run_id,
          body_key: `${n.run_id}:${n.seq}`,
          body: text,
          created_at: createdAt,
        },
      });
    }
    if (n.url && RUN_END_EVENTS.has(n.type) && !config.run_secret) log.error("webhook.no_run_secret", { tenant, run_id: n.run_id, type: n.type });
  }
  return planned;
}

/** Whom a notice goes to: each subscription that asked for its type, and the run's own URL for an end. */
function targetsOf(config: WebhookConfig, n: NoticeMessage): Target[] {
  const targets: Target[] = config.subscriptions.filter((s) => s.events.includes(n.type)).map((s) => ({ subscription_id: s.id, url: s.url, secret: s.secret }));
  if (n.url && RUN_END_EVENTS.has(n.type) && config.run_secret) targets.push({ subscription_id: null, url: n.url, secret: config.run_secret });
  return targets;
}

/** Whether the copy has what the notice was sent for: a subscriber, and the run secret for a run's own URL. */
function complete(config: WebhookConfig, n: NoticeMessage): boolean {
  if (n.url && RUN_END_EVENTS.has(n.type)) return config.run_secret !== null;
  return config.subscriptions.some((s) => s.events.includes(n.type));
}

async function attempt(env: Env, p: Planned): Promise<AttemptOutcome> {
  const started_at = Date.now();
  const result = await sendAttempt({ id: p.delivery_id, url: p.url, secret: p.secret, body: p.body }, started_at, env.HTTP_TOOL_ALLOWLIST);
  return { delivery_id: p.delivery_id, attempt: p.attempt, ...(p.first ? { first: p.first } : {}), started_at, duration_ms: Date.now() - started_at, result };
}
