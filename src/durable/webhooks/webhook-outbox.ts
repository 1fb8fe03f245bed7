// WebhookOutbox: one per tenant (WEBHOOKS.getByName(tenant)). It holds the tenant's
// subscriptions and run-webhook signing secret, and delivers what runs hand it: each notice
// becomes one delivery per matching subscription (and one to the run's own URL for its end),
// written before the handoff is answered, then attempted by the alarm, retried with backoff
// until it is delivered, refused for good or out of attempts. A delivery keeps its webhook-id on
// every attempt. Runs only hand notices over (one quick request); no run waits on a receiver.
//
// The tenant's limiter keeps a copy of which events the tenant subscribes to (set here whenever
// the subscriptions change), so a run learns it from the slot it takes anyway, and a tenant
// without subscriptions pays nothing at a run's end.
import { DurableObject } from "cloudflare:workers";
import { guardAlarm } from "../alarm-guard";
import { sha256Hex } from "../../lib/hash";
import { errorFields, log } from "../../lib/log";
import { verdictOf, type Verdict } from "./delivery-policy";
import { RUN_END_EVENTS, type RunNotice, type WebhookBody, type WebhookEventType } from "./notice";
import { OutboxStore, type Attempt, type Delivery, type Subscription } from "./outbox-store";
import { newSigningSecret, sendAttempt } from "./send-attempt";
import { setTenantWebhookEvents } from "../tenant/tenant-shards";

/** Subscriptions one tenant may have. */
export const MAX_SUBSCRIPTIONS = 20;
/** Deliveries attempted at once by one alarm; more due are served by the next, at once. */
const BATCH = 25;
/** Finished deliveries are kept this long for GET /webhooks/{id}/deliveries. */
const RETENTION_MS = 7 * 24 * 3_600_000;

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
  /** Deliveries being attempted now, so an alarm and a test's runDurableObjectAlarm never send one twice at once. */
  private readonly sending = new Set<string>();
  /** Injectable for tests (set through runInDurableObject): due times and signature timestamps use it. */
  clock: () => number = Date.now;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = new OutboxStore(ctx.storage.sql);
  }

  async subscribe(tenant: string, url: string, events: WebhookEventType[]): Promise<SubscribeResult> {
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
    return this.store.subscriptions().map(view);
  }

  async unsubscribe(tenant: string, id: string): Promise<boolean> {
    if (!this.store.removeSubscription(id, "the subscription was deleted")) return false;
    await this.shareEvents(tenant);
    return true;
  }

  /** A subscription's deliveries, newest first; null when there is no such subscription. */
  async deliveries(id: string, limit: number): Promise<DeliveryView[] | null> {
    if (!this.store.subscription(id)) return null;
    return this.store.deliveriesOf(id, limit).map(deliveryView);
  }

  /** Creates or replaces the secret that signs runs' own webhooks; shown only in this answer. */
  async rotateRunSecret(): Promise<{ secret: string; created_at: string }> {
    const secret = newSigningSecret();
    const created_at = iso(this.clock());
    this.store.setRunSecret(secret, created_at);
    return { secret, created_at };
  }

  async hasRunSecret(): Promise<boolean> {
    return this.store.runSecret() !== undefined;
  }

  /**
   * A run's milestone: one delivery per subscription that asked for its type, and one to the
   * run's own URL for an end. Ids derive from the run, the milestone's seq and the target, so a
   * handoff the run repeats (it could not tell the first one landed) adds nothing.
   */
  async enqueue(notice: RunNotice): Promise<number> {
    const targets: { subscription_id: string | null; url: string }[] = this.store
      .subscriptions()
      .filter((s) => s.events.includes(notice.type))
      .map((s) => ({ subscription_id: s.id, url: s.url }));
    if (notice.url && RUN_END_EVENTS.has(notice.type)) targets.push({ subscription_id: null, url: notice.url });
    const body: WebhookBody = { type: notice.type, timestamp: notice.at, data: { run: notice.run } };
    const text = JSON.stringify(body);
    const now = this.clock();
    let added = 0;
    for (const t of targets) {
      const id = `msg_${(await sha256Hex(`${notice.run_id}:${notice.seq}:${t.subscription_id ?? "run"}`)).slice(0, 32)}`;
      if (this.store.addDelivery({ id, ...t, type: notice.type, run_id: notice.run_id, body: text, next_attempt_at: now, created_at: now })) added++;
    }
    if (added) this.arm();
    return added;
  }

  /** Attempts every due delivery, then sets the alarm for the next one. */
  override async alarm(): Promise<void> {
    // Guarded: a throw (its storage) is logged and the alarm re-armed with backoff, replacing the
    // one arm() set for deliveries already due, so failing work does not spin.
    await guardAlarm(this.ctx, "webhook_outbox", { tenant: this.store.tenant() ?? null }, async () => {
      try {
        const now = this.clock();
        this.store.prune(now - RETENTION_MS);
        await Promise.all(this.store.due(now, BATCH).map((d) => this.attempt(d)));
      } finally {
        this.arm();
      }
    });
  }

  private arm(): void {
    const next = this.store.nextDue();
    if (next === null) void this.ctx.storage.deleteAlarm();
    else void this.ctx.storage.setAlarm(next);
  }

  private async attempt(d: Delivery): Promise<void> {
    if (this.sending.has(d.id)) return;
    this.sending.add(d.id);
    try {
      const secret = d.subscription_id === null ? this.store.runSecret() : this.store.subscription(d.subscription_id)?.secret;
      if (!secret) return this.store.cancel(d.id, "its subscription no longer exists");
      const startedAt = this.clock();
      const t0 = Date.now();
      const result = await sendAttempt({ id: d.id, url: d.url, secret, body: d.body }, startedAt, this.env.HTTP_TOOL_ALLOWLIST);
      const attempt: Attempt = {
        attempt: d.attempts.length + 1,
        at: iso(startedAt),
        status_code: result.status_code,
        duration_ms: Date.now() - t0,
        error: result.error,
      };
      // Read again: the subscription may have gone while the request was out.
      const current = this.store.get(d.id);
      if (!current || current.status !== "pending") return;
      // The next attempt is timed from this one's end.
      const verdict: Verdict = verdictOf(result, attempt.attempt, startedAt + attempt.duration_ms);
      this.store.recordAttempt(current, attempt, verdict);
      log[verdict.kind === "delivered" ? "info" : "warn"]("webhook.attempt", {
        delivery: d.id,
        subscription: d.subscription_id,
        run_id: d.run_id,
        type: d.type,
        attempt: attempt.attempt,
        status_code: attempt.status_code,
        duration_ms: attempt.duration_ms,
        outcome: verdict.kind,
      });
      if (verdict.kind === "gone" && d.subscription_id !== null) await this.goneFor(d.subscription_id);
    } catch (err) {
      log.error("webhook.attempt_failed", { delivery: d.id, ...errorFields(err) });
    } finally {
      this.sending.delete(d.id);
    }
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
