// The run object's side of webhooks: noticing a milestone someone may be called about (the run
// ended, or began to wait), keeping it until its tenant's webhook queue has it, and sending it.
//
// Cost: the run knows from its run.created event whether anyone could be called (its own
// `webhook.url`, or `webhook_events`, the event types the tenant subscribed to when the run was
// created, which the tenant's limiter answered with the slot the run took anyway). A run nobody
// is called about writes nothing and sends nothing here. One that is called about: one row
// written with the milestone's events (so a crash cannot lose it), one queue message after the
// answer (no request to any shared object: the queue's consumer matches it against the tenant's
// subscriptions, src/queues/webhook-consumer.ts), one row deleted when the consumer says the
// outbox recorded it (one request to this run's own object, webhooksRecorded). A send that fails
// is retried by the run's alarm with backoff. A sent milestone not confirmed within
// RESEND_AFTER_MS is sent again: a queue may lose a message (the local broker under `wrangler dev`
// keeps them in memory, so a killed runtime loses them). A milestone sent twice is recorded as one
// (its delivery ids derive from the run, the seq and the target); its receiver may see the POST
// twice, with one webhook-id (delivery is at least once).
import { RUN_END_EVENTS, RESULT_LIMIT_BYTES, noticeMessage, type RunNotice, type WebhookEventType, type WebhookRun } from "../../webhooks/notice";
import { Backoff, BACKGROUND_RETRY } from "../../../execution/backoff";
import { jsonBytes } from "../../../lib/bytes";
import { errorFields, log } from "../../../lib/log";
import type { RunEvent } from "../domain/events";
import type { RunState, RunStatus } from "../domain/state";
import { tenantWebhookEvents } from "../../tenant/tenant-shards";
import { webhookQueueFor } from "../../webhooks/webhook-queues";

const ENDS: Partial<Record<string, WebhookEventType>> = { "run.completed": "run.completed", "run.failed": "run.failed", "run.cancelled": "run.cancelled" };
/** How long a run that takes no slot trusts this isolate's copy of its tenant's subscriptions. */
const EVENTS_TTL_MS = 5_000;

const known = new Map<string, { events: string[]; until: number }>();

/** What a slot's answer said about the tenant's subscriptions, kept for runs that take no slot. */
export function rememberWebhookEvents(tenant: string, events: string[], now: number): string[] {
  if (known.size > 10_000) known.clear();
  known.set(tenant, { events, until: now + EVENTS_TTL_MS });
  return events;
}

/**
 * The tenant's subscribed event types for a run that takes no slot (it ends inside its create):
 * this isolate's copy when fresh, else one request to the limiter, shared by every such run of
 * the tenant in this isolate for the next few seconds. Like the breaker gate's cached admit, that
 * request belongs to no one run, so no run's usage meter counts it. A new subscription covers
 * every run created after it that takes a slot, and these within EVENTS_TTL_MS.
 */
export async function webhookEventsOf(env: Env, tenant: string, now: number): Promise<string[]> {
  const hit = known.get(tenant);
  if (hit && hit.until > now) return hit.events;
  return rememberWebhookEvents(tenant, await tenantWebhookEvents(env, tenant), now);
}

/** The run as a delivery carries it (see WebhookRun). */
export function webhookRun(state: RunState): WebhookRun {
  const result = state.status === "completed" ? (state.result ?? null) : null;
  const tooBig = result !== null && jsonBytes(result) > RESULT_LIMIT_BYTES;
  return {
    run_id: state.run_id,
    prompt: state.prompt,
    status: state.status,
    planner: state.plan?.planner ?? "rules",
    step_count: state.steps.size,
    result: tooBig ? null : result,
    ...(tooBig ? { result_truncated: true } : {}),
    error: state.error,
    created_at: state.created_at,
    started_at: state.started_at,
    completed_at: state.completed_at,
  };
}

/** The milestone one command reached, if anyone is to be called about it. */
export function milestone(state: RunState, before: RunStatus, events: readonly RunEvent[]): WebhookEventType | null {
  const end = events.map((e) => ENDS[e.type]).findLast((t) => t !== undefined);
  const type = end ?? (state.status === "waiting" && before !== "waiting" ? "run.waiting" : null);
  if (!type) return null;
  return (state.webhook_url !== null && RUN_END_EVENTS.has(type)) || state.webhook_events.includes(type) ? type : null;
}

interface Pending {
  seq: number;
  type: WebhookEventType;
  at: string;
  /** When to send it again unless the consumer has confirmed it (null: not sent since this object started). */
  resendAt: number | null;
}

/** How long a sent milestone waits for the consumer's confirmation before it is sent again. */
export const RESEND_AFTER_MS = 60_000;

export class RunWebhooks {
  private readonly pending = new Map<number, Pending>();
  private hasTable: boolean;
  private readonly backoff = new Backoff(BACKGROUND_RETRY);
  private handing: Promise<void> | null = null;

  constructor(
    private readonly sql: SqlStorage,
    tables: ReadonlySet<string>,
    private readonly env: Env,
    private readonly clock: () => number,
    /** Told of each queue message sent and each row written, for the usage meter. */
    private readonly meter: { sent(): void; wrote(c: { rowsWritten: number }): void },
  ) {
    this.hasTable = tables.has("webhook_handoffs");
    if (this.hasTable)
      for (const p of sql.exec<{ seq: number; type: WebhookEventType; at: string }>(`SELECT * FROM webhook_handoffs`))
        this.pending.set(p.seq, { ...p, resendAt: null });
  }

  /** Keeps the command's milestone, if any, in the same synchronous turn as its events. */
  notice(state: RunState, before: RunStatus, events: readonly RunEvent[]): void {
    const type = milestone(state, before, events);
    if (!type) return;
    if (!this.hasTable) {
      this.sql.exec(`CREATE TABLE IF NOT EXISTS webhook_handoffs (seq INTEGER PRIMARY KEY, type TEXT NOT NULL, at TEXT NOT NULL)`);
      this.hasTable = true;
    }
    const p: Pending = { seq: state.last_seq, type, at: events.at(-1)?.at ?? new Date(this.clock()).toISOString(), resendAt: null };
    this.meter.wrote(this.sql.exec(`INSERT OR IGNORE INTO webhook_handoffs (seq, type, at) VALUES (?, ?, ?)`, p.seq, p.type, p.at));
    this.pending.set(p.seq, p);
  }

  /** When the alarm must look at handoffs again (null: nothing pending). */
  nextDue(now: number, graceMs: number): number | null {
    let next: number | null = null;
    for (const p of this.pending.values()) {
      const at = p.resendAt ?? Math.max(this.backoff.retryAt, now + graceMs);
      next = next === null ? at : Math.min(next, at);
    }
    return next;
  }

  get due(): boolean {
    const now = this.clock();
    return [...this.pending.values()].some((p) => (p.resendAt === null ? this.backoff.retryAt <= now : p.resendAt <= now));
  }

  /** The consumer says the outbox recorded these milestones: they are not sent again. */
  recorded(seqs: readonly number[]): void {
    for (const seq of seqs) {
      if (!this.pending.delete(seq)) continue;
      this.meter.wrote(this.sql.exec(`DELETE FROM webhook_handoffs WHERE seq = ?`, seq));
    }
  }

  /** Sends pending milestones after the caller's answer; `then` re-arms the alarm. */
  handOffInBackground(ctx: DurableObjectState, state: RunState, then: () => void): void {
    if (this.handing || ![...this.pending.values()].some((p) => p.resendAt === null)) return;
    this.handing = this.handOffNow(state).finally(() => {
      this.handing = null;
      then();
    });
    ctx.waitUntil(this.handing);
  }

  /** Sends pending milestones now (the alarm's turn), or waits for the send under way. */
  async handOff(state: RunState): Promise<void> {
    if (this.handing) return this.handing;
    if (this.pending.size > 0) await this.handOffNow(state);
  }

  private async handOffNow(state: RunState): Promise<void> {
    const now = this.clock();
    const due = [...this.pending.values()].filter((p) => p.resendAt === null || p.resendAt <= now);
    for (const p of due.sort((a, b) => a.seq - b.seq)) {
      const notice: RunNotice = {
        tenant: state.tenant,
        run_id: state.run_id,
        seq: p.seq,
        type: p.type,
        at: p.at,
        run: webhookRun(state),
        ...(state.webhook_url ? { url: state.webhook_url } : {}),
      };
      try {
        this.meter.sent();
        await webhookQueueFor(this.env, state.run_id).send(noticeMessage(notice));
      } catch (err) {
        const delay = this.backoff.failed(this.clock());
        log.error("webhook.handoff_failed", { run_id: state.run_id, seq: p.seq, failures: this.backoff.failing, retry_in_ms: delay, ...errorFields(err) });
        return;
      }
      // Kept until the consumer confirms it (recorded), or sent again at resendAt.
      p.resendAt = this.clock() + RESEND_AFTER_MS;
      this.backoff.succeeded();
    }
  }
}
