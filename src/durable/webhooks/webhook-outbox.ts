// WebhookOutbox: one per tenant (WEBHOOKS.getByName(tenant)). It holds the tenant's
// subscriptions and run-webhook signing secret, and the record of every delivery (its attempts,
// its status, its body stored once per milestone). It sends nothing itself and is on no run's
// path: runs send their milestones to the crane-webhooks queue, whose consumer
// (src/queues/webhook-consumer.ts) reads this configuration through a per-isolate cache
// (config-cache.ts), POSTs, and writes what happened here in one request per tenant per batch.
// Retries are queue messages delayed by the delivery policy's wait; when one is due, `claim`
// answers with the delivery's body and current secret. A delivery keeps its webhook-id on every
// attempt, and an attempt is recorded once whatever the queue repeats (`record`).
//
// The tenant's limiter keeps a copy of which events the tenant subscribes to (set here whenever
// the subscriptions change), so a run learns it from the slot it takes anyway, and a tenant
// without subscriptions pays nothing at a run's end.
import { DurableObject } from "cloudflare:workers";
import { guardAlarm } from "../alarm-guard";
import { log } from "../../lib/log";
import type { WebhookConfig } from "./config-cache";
import { verdictOf, type AttemptResult, type Verdict } from "./delivery-policy";
import type { RetryMessage, WebhookEventType } from "./notice";
import { OutboxStore, type Attempt, type Delivery, type Subscription } from "./outbox-store";
import { newSigningSecret } from "./send-attempt";
import { setTenantWebhookEvents } from "../tenant/tenant-shards";

/** Subscriptions one tenant may have. */
export const MAX_SUBSCRIPTIONS = 20;
/** Finished deliveries are kept this long for GET /webhooks/{id}/deliveries. */
const RETENTION_MS = 7 * 24 * 3_600_000;
/** Old rows are looked for at most this often (a scan of the deliveries), from `record`. */
const PRUNE_EVERY_MS = 3_600_000;
/** Pending rows from before the queue handed to it per alarm. */
const LEGACY_BATCH = 100;
/**
 * A retry message not seen this long after its attempt was due is taken as lost (a queue may lose
 * one: the local broker under `wrangler dev` keeps messages in memory) and sent again by the alarm.
 * A copy of one that was only late is claimed once: `claim` hands out only the attempt the
 * delivery waits for, and `record` records it once.
 */
export const LOST_RETRY_MS = 60_000;
/** Overdue deliveries sent again per alarm. */
const SWEEP_BATCH = 100;

export interface WebhookView {
  webhook_id: string;
  url: string;
  events: WebhookEventType[];
  created_at: string;
}

export interface DeliveryView {
  delivery_id: string;
  type: WebhookEventType;
  run_id: string;
  status: Delivery["status"];
  reason: string | null;
  created_at: string;
  next_attempt_at: string | null;
  attempts: Attempt[];
}

export type SubscribeResult = { ok: true; webhook: WebhookView & { secret: string } } | { ok: false; code: "too_many_webhooks"; limit: number };

/** One attempt the consumer made, to be recorded. */
export interface AttemptOutcome {
  delivery_id: string;
  attempt: number;
  /** On a first attempt, the delivery itself (its row is written with it). */
  first?: { subscription_id: string | null; url: string; type: WebhookEventType; run_id: string; body_key: string; body: string; created_at: number };
  started_at: number;
  duration_ms: number;
  result: AttemptResult;
}

/** After a record: the attempt the delivery waits for, if it waits for one. */
export interface Recorded {
  delivery_id: string;
  next: { attempt: number; at: number } | null;
}

/** What a due retry message finds: send this, wait until then, or nothing (a duplicate, or over). */
export type Claim =
  | { kind: "send"; delivery_id: string; attempt: number; url: string; secret: string; body: string }
  | { kind: "wait"; delivery_id: string; attempt: number; until: number }
  | { kind: "skip"; delivery_id: string };

const view = (s: Subscription): WebhookView => ({ webhook_id: s.id, url: s.url, events: s.events, created_at: s.created_at });
const iso = (ms: number) => new Date(ms).toISOString();
const deliveryView = (d: Delivery): DeliveryView => ({
  delivery_id: d.id,
  type: d.type,
  run_id: d.run_id,
  status: d.status,
  reason: d.reason,
  created_at: iso(d.created_at),
  next_attempt_at: d.next_attempt_at === null ? null : iso(d.next_attempt_at),
  attempts: d.attempts,
});

export class WebhookOutbox extends DurableObject<Env> {
  private readonly store: OutboxStore;
  private prunedAt = 0;
  /** Requests this object served since it started: what the scale tests count. */
  served = 0;
  /** Retries this instance sent again because their message was overdue (read by tests and the log). */
  resent = 0;
  /** Injectable for tests (set through runInDurableObject): whether a retry is due is asked of it. */
  clock: () => number = Date.now;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = new OutboxStore(ctx.storage.sql);
    // Deliveries the outbox's own alarm used to attempt, written before the queue: handed to it once.
    if (this.store.legacyPending(1).length > 0) void ctx.storage.setAlarm(Date.now());
  }

  async subscribe(tenant: string, url: string, events: WebhookEventType[]): Promise<SubscribeResult> {
    this.served++;
    if (this.store.subscriptions().length >= MAX_SUBSCRIPTIONS) return { ok: false, code: "too_many_webhooks", limit: MAX_SUBSCRIPTIONS };
    const s: Subscription = {
      id: `wh_${crypto.randomUUID().replaceAll("-", "").slice(0, 24)}`,
      url,
      events: [...new Set(events)],
      secret: newSigningSecret(),
      created_at: iso(this.clock()),
    };
    this.store.setTenant(tenant);
    this.store.addSubscription(s);
    try {
      await this.shareEvents(tenant);
    } catch (err) {
      // Runs would not know to call it: the subscription does not stand.
      this.store.removeSubscription(s.id, "not created");
      throw err;
    }
    return { ok: true, webhook: { ...view(s), secret: s.secret } };
  }

  async list(): Promise<WebhookView[]> {
    this.served++;
    return this.store.subscriptions().map(view);
  }

  async unsubscribe(tenant: string, id: string): Promise<boolean> {
    this.served++;
    if (!this.store.removeSubscription(id, "the subscription was deleted")) return false;
    await this.shareEvents(tenant);
    return true;
  }

  /** A subscription's deliveries, newest first; null when there is no such subscription. */
  async deliveries(id: string, limit: number): Promise<DeliveryView[] | null> {
    this.served++;
    if (!this.store.subscription(id)) return null;
    return this.store.deliveriesOf(id, limit).map(deliveryView);
  }

  /** Creates or replaces the secret that signs runs' own webhooks; shown only in this answer. */
  async rotateRunSecret(tenant: string): Promise<{ secret: string; created_at: string }> {
    this.served++;
    const secret = newSigningSecret();
    const created_at = iso(this.clock());
    this.store.setTenant(tenant);
    this.store.setRunSecret(secret, created_at);
    return { secret, created_at };
  }

  /** What the consumer needs to turn a notice into signed deliveries; it keeps a copy (config-cache.ts). */
  async config(): Promise<WebhookConfig> {
    this.served++;
    return {
      version: this.store.configVersion(),
      subscriptions: this.store.subscriptions().map((s) => ({ id: s.id, url: s.url, events: s.events, secret: s.secret })),
      run_secret: this.store.runSecret() ?? null,
    };
  }

  /**
   * Records a consumer batch's attempts for this tenant, in one request. An attempt is recorded
   * only if it is the one the delivery waits for, so a message the queue delivers twice, or a
   * retry sent twice, adds nothing. Answers, per delivery, the attempt it now waits for (the
   * consumer sends that retry) and the configuration's version (so a stale copy is dropped).
   */
  async record(tenant: string, outcomes: AttemptOutcome[]): Promise<{ version: number; recorded: Recorded[] }> {
    this.served++;
    this.store.setTenant(tenant);
    const now = this.clock();
    if (now - this.prunedAt > PRUNE_EVERY_MS) {
      this.prunedAt = now;
      this.store.prune(now - RETENTION_MS);
    }
    const gone = new Set<string>();
    const recorded = outcomes.map((o): Recorded => {
      if (o.first) {
        // A subscription deleted while the attempt was out: nothing to list it under.
        if (o.first.subscription_id !== null && !this.store.subscription(o.first.subscription_id)) return { delivery_id: o.delivery_id, next: null };
        this.store.addDelivery({ id: o.delivery_id, ...o.first, next_attempt_at: o.started_at });
      }
      const d = this.store.get(o.delivery_id);
      if (!d || d.status !== "pending") return { delivery_id: o.delivery_id, next: null };
      if (d.attempts.length !== o.attempt - 1)
        return {
          delivery_id: d.id,
          next: d.attempts.length > 0 && d.next_attempt_at !== null ? { attempt: d.attempts.length + 1, at: d.next_attempt_at } : null,
        };
      const attempt: Attempt = {
        attempt: o.attempt,
        at: iso(o.started_at),
        status_code: o.result.status_code,
        duration_ms: o.duration_ms,
        error: o.result.error,
      };
      // The next attempt is timed from this one's end.
      const verdict: Verdict = verdictOf(o.result, o.attempt, o.started_at + o.duration_ms);
      this.store.recordAttempt(d, attempt, verdict);
      log[verdict.kind === "delivered" ? "info" : "warn"]("webhook.attempt", {
        delivery: d.id,
        subscription: d.subscription_id,
        run_id: d.run_id,
        type: d.type,
        attempt: o.attempt,
        status_code: attempt.status_code,
        duration_ms: attempt.duration_ms,
        outcome: verdict.kind,
      });
      if (verdict.kind === "gone" && d.subscription_id !== null) gone.add(d.subscription_id);
      return { delivery_id: d.id, next: verdict.kind === "retry" ? { attempt: o.attempt + 1, at: verdict.at } : null };
    });
    for (const id of gone) await this.goneFor(id);
    if (recorded.some((r) => r.next)) await this.armSweep(now);
    return { version: this.store.configVersion(), recorded };
  }

  /**
   * Due retries: each delivery's body, target and current secret, if the message is for the
   * attempt the delivery waits for and it is due; when it is early (a clock apart, a message
   * delivered early), when to try; otherwise nothing to do. A delivery whose subscription or
   * secret is gone is cancelled here.
   */
  async claim(retries: Pick<RetryMessage, "delivery_id" | "attempt">[]): Promise<{ now: number; claims: Claim[] }> {
    this.served++;
    const now = this.clock();
    const claims = retries.map((r): Claim => {
      const d = this.store.withBody(r.delivery_id);
      if (!d || d.status !== "pending" || d.attempts.length !== r.attempt - 1) return { kind: "skip", delivery_id: r.delivery_id };
      if (d.next_attempt_at !== null && d.next_attempt_at > now) return { kind: "wait", delivery_id: d.id, attempt: r.attempt, until: d.next_attempt_at };
      const secret = d.subscription_id === null ? this.store.runSecret() : this.store.subscription(d.subscription_id)?.secret;
      if (!secret) {
        this.store.cancel(d.id, "its subscription no longer exists");
        return { kind: "skip", delivery_id: d.id };
      }
      return { kind: "send", delivery_id: d.id, attempt: r.attempt, url: d.url, secret, body: d.body };
    });
    return { now, claims };
  }

  /**
   * Hands pending deliveries written before the queue existed to it, as retries due when they
   * were; then sends again the retries whose message is overdue by LOST_RETRY_MS (lost).
   */
  override async alarm(): Promise<void> {
    await guardAlarm(this.ctx, "webhook_outbox", { tenant: this.store.tenant() ?? null }, async () => {
      const tenant = this.store.tenant();
      const rows = this.store.legacyPending(LEGACY_BATCH);
      if (!tenant) {
        for (const d of rows) this.store.cancel(d.id, "written before the webhook queue, for an unknown tenant");
        return;
      }
      const now = this.clock();
      if (rows.length > 0)
        await this.env.WEBHOOK_RETRIES.sendBatch(
          rows.map((d) => ({
            body: { kind: "retry", tenant, delivery_id: d.id, attempt: d.attempts.length + 1 } satisfies RetryMessage,
            delaySeconds: Math.max(0, Math.ceil(((d.next_attempt_at ?? now) - now) / 1000)),
          })),
        );
      for (const d of rows) this.store.handedToQueue(d.id);
      if (rows.length === LEGACY_BATCH) return void (await this.ctx.storage.setAlarm(Date.now()));
      // Retries whose message never came: sent again, due now.
      const lost = this.store.overdue(now - LOST_RETRY_MS, SWEEP_BATCH);
      if (lost.length > 0) {
        this.resent += lost.length;
        log.warn("webhook.retry_resent", { tenant, deliveries: lost.length });
        await this.env.WEBHOOK_RETRIES.sendBatch(
          lost.map((d) => ({ body: { kind: "retry", tenant, delivery_id: d.id, attempt: d.attempts.length + 1 } satisfies RetryMessage })),
        );
      }
      // The next look: when the earliest pending attempt would be overdue, and not before LOST_RETRY_MS from now.
      const due = this.store.earliestDue();
      if (due !== null) await this.ctx.storage.setAlarm(Math.max(due, now) + LOST_RETRY_MS);
    });
  }

  /** Arms the alarm to look for lost retries once the earliest pending attempt is overdue (an earlier alarm stays). */
  private async armSweep(now: number): Promise<void> {
    const due = this.store.earliestDue();
    if (due === null) return;
    const at = Math.max(due, now) + LOST_RETRY_MS;
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > at) await this.ctx.storage.setAlarm(at);
  }

  /** 410 Gone: the receiver asks not to be called again; its subscription ends. */
  private async goneFor(subscriptionId: string): Promise<void> {
    const tenant = this.store.tenant();
    this.store.removeSubscription(subscriptionId, "the receiver answered 410 Gone");
    log.warn("webhook.unsubscribed", { subscription: subscriptionId, tenant });
    if (tenant) await this.shareEvents(tenant);
  }

  /** Tells every shard of the tenant's limiter which events anyone subscribes to now (runs read it from there). */
  private async shareEvents(tenant: string): Promise<void> {
    const events = [...new Set(this.store.subscriptions().flatMap((s) => s.events))].sort();
    await setTenantWebhookEvents(this.env, tenant, events);
  }
}
