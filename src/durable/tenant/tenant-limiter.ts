// TenantLimiter: one shard of a tenant's cap on runs in flight (tenant-shards.ts says which runs
// ask which shard, and what share of the cap each holds). It holds a slot for each run it granted,
// so its share holds exactly even under a burst of concurrent creates. The run object takes its
// run's slot itself, only for a run that will stay in flight (a run that ends inside its create
// needs none), and gives it back to the shard that granted it when the run ends.
//
// A give-back that never arrives (a crash, a lost RPC) cannot leak a slot for good: when the
// shard is at its share, slots older than a grace period are checked against their run objects,
// the source of truth, and freed when their runs ended or never came to exist. That check costs a
// request per slot, so it runs at most once per grace period, not on every refusal.
//
// Each shard also keeps which run events the tenant has webhook subscriptions for (the outbox sets
// it on every shard whenever they change): a run that takes a slot learns it from that answer, so
// a run's end costs nothing extra for a tenant that subscribes to nothing.
import { DurableObject } from "cloudflare:workers";
import { log } from "../../lib/log";

const GRACE_MS = 10_000;
/** How many run objects one reconciliation asks at most (the oldest slots first). */
const RECONCILE_BATCH = 100;

export type AcquireResult =
  | { ok: true; held: boolean; in_flight: number; rows_written: number; webhook_events: string[] }
  | { ok: false; in_flight: number; cap: number; rows_written: number };

export class TenantLimiter extends DurableObject<Env> {
  private lastReconcile = 0;
  /** The event types the tenant's webhooks subscribe to (a copy; the WebhookOutbox owns them). */
  private webhooks: string[] = [];
  /** Whether this shard was ever told them (or copied them from shard 0). */
  private hinted = false;
  /** Injectable for tests: the grace period is measured against this clock. */
  clock: () => number = Date.now;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    // WITHOUT ROWID: a slot taken or given back is one row written, not a row and an index entry.
    // Limiters made before kept a rowid table: their slots move over once.
    const sql = ctx.storage.sql;
    const old = sql.exec<{ sql: string }>(`SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'slots'`).toArray()[0];
    if (old && !/WITHOUT ROWID/i.test(old.sql)) {
      sql.exec(`ALTER TABLE slots RENAME TO slots_v1`);
      sql.exec(`CREATE TABLE slots (run_id TEXT PRIMARY KEY, acquired_at INTEGER NOT NULL) WITHOUT ROWID`);
      sql.exec(`INSERT INTO slots SELECT run_id, acquired_at FROM slots_v1`);
      sql.exec(`DROP TABLE slots_v1`);
    }
    sql.exec(`CREATE TABLE IF NOT EXISTS slots (run_id TEXT PRIMARY KEY, acquired_at INTEGER NOT NULL) WITHOUT ROWID`);
    // Created by the first subscription (on shards other than 0, by the first copy of shard 0's),
    // so shard 0 of a tenant without webhooks has no such table.
    const hint = sql.exec<{ n: number }>(`SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'webhook_events'`).one().n
      ? sql.exec<{ events: string }>(`SELECT events FROM webhook_events WHERE id = 1`).toArray()[0]
      : undefined;
    if (hint) this.webhooks = JSON.parse(hint.events) as string[];
    this.hinted = hint !== undefined;
  }

  private count(): number {
    return this.ctx.storage.sql.exec<{ n: number }>(`SELECT count(*) AS n FROM slots`).one().n;
  }

  /**
   * Takes a slot for `runId` against `cap`, this shard's share; `held: true` when it already had
   * one (a replay or a resume). `hintFrom`: shard 0's name, for a shard that may not have been
   * told the webhook events yet (see `events`).
   */
  async acquire(runId: string, cap: number, hintFrom?: string): Promise<AcquireResult> {
    const sql = this.ctx.storage.sql;
    const webhook_events = await this.events(hintFrom);
    if (sql.exec(`SELECT 1 FROM slots WHERE run_id = ?`, runId).toArray().length > 0)
      return { ok: true, held: true, in_flight: this.count(), rows_written: 0, webhook_events };
    let rows = 0;
    if (this.count() >= cap) rows += await this.reconcile();
    const inFlight = this.count();
    if (inFlight >= cap) return { ok: false, in_flight: inFlight, cap, rows_written: rows };
    rows += sql.exec(`INSERT INTO slots (run_id, acquired_at) VALUES (?, ?)`, runId, this.clock()).rowsWritten;
    return { ok: true, held: false, in_flight: inFlight + 1, rows_written: rows, webhook_events };
  }

  /** Gives a slot back; returns the rows that cost. */
  async release(runId: string): Promise<number> {
    return this.ctx.storage.sql.exec(`DELETE FROM slots WHERE run_id = ?`, runId).rowsWritten;
  }

  /** Set on every shard by the tenant's WebhookOutbox whenever its subscriptions change. */
  async setWebhookEvents(events: string[]): Promise<void> {
    this.storeEvents(events);
  }

  /** For a run that takes no slot (it ends inside its create), asked through a per-isolate cache. */
  async webhookEvents(hintFrom?: string): Promise<string[]> {
    return this.events(hintFrom);
  }

  private storeEvents(events: string[]): void {
    const sql = this.ctx.storage.sql;
    sql.exec(`CREATE TABLE IF NOT EXISTS webhook_events (id INTEGER PRIMARY KEY CHECK (id = 1), events TEXT NOT NULL)`);
    sql.exec(`INSERT OR REPLACE INTO webhook_events (id, events) VALUES (1, ?)`, JSON.stringify(events));
    this.webhooks = events;
    this.hinted = true;
  }

  /**
   * The webhook events this shard knows. A shard never told them (made after the tenant last
   * changed its subscriptions, when TENANT_SLOT_SHARDS was raised) copies them once from shard 0,
   * which was always told (it is the limiter of before shards); a set that lands while it asks wins.
   */
  private async events(hintFrom: string | undefined): Promise<string[]> {
    if (this.hinted || hintFrom === undefined) return this.webhooks;
    const events = await this.env.TENANTS.getByName(hintFrom).webhookEvents();
    if (!this.hinted) this.storeEvents(events);
    return this.webhooks;
  }

  /** Frees slots whose runs have ended, or were never created, according to the run objects. */
  private async reconcile(): Promise<number> {
    const now = this.clock();
    if (now - this.lastReconcile < GRACE_MS) return 0;
    this.lastReconcile = now;
    const stale = this.ctx.storage.sql
      .exec<{ run_id: string }>(`SELECT run_id FROM slots WHERE acquired_at < ? ORDER BY acquired_at LIMIT ?`, now - GRACE_MS, RECONCILE_BATCH)
      .toArray()
      .map((r) => r.run_id);
    const statuses = await Promise.all(stale.map(async (id) => [id, await this.env.RUNS.getByName(id).status()] as const));
    const freed = statuses.filter(([, s]) => s === null || s === "completed" || s === "failed" || s === "cancelled").map(([id]) => id);
    let rows = 0;
    for (const id of freed) rows += this.ctx.storage.sql.exec(`DELETE FROM slots WHERE run_id = ?`, id).rowsWritten;
    if (freed.length) log.warn("tenant.slots_reconciled", { checked: stale.length, freed: freed.length });
    return rows;
  }
}
