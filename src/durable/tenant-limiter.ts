import { DurableObject } from "cloudflare:workers";
import { log } from "../lib/log";

/**
 * TenantLimiter: one per tenant (TENANTS.getByName(tenant)), holding a slot for each of the
 * tenant's runs in flight, so the cap holds exactly even under a burst of concurrent creates.
 * A run takes its slot before its run object is created (or resumed) and gives it back when it
 * ends. A give-back that never arrives (a crash, a lost RPC) cannot leak a slot for good: when
 * the tenant is at its cap, slots older than a grace period are checked against their run
 * objects, the source of truth, and those whose runs ended or never came to exist are freed.
 */
const GRACE_MS = 10_000;

export type AcquireResult = { ok: true; held: boolean; in_flight: number } | { ok: false; in_flight: number; cap: number };

export class TenantLimiter extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.storage.sql.exec(`CREATE TABLE IF NOT EXISTS slots (run_id TEXT PRIMARY KEY, acquired_at INTEGER NOT NULL)`);
  }

  private count(): number {
    return this.ctx.storage.sql.exec<{ n: number }>(`SELECT count(*) AS n FROM slots`).one().n;
  }

  /** Takes a slot for `runId`; `held: true` when it already had one (a replay or a resume). */
  async acquire(runId: string, cap: number): Promise<AcquireResult> {
    const sql = this.ctx.storage.sql;
    if (sql.exec(`SELECT 1 FROM slots WHERE run_id = ?`, runId).toArray().length > 0) return { ok: true, held: true, in_flight: this.count() };
    if (this.count() >= cap) await this.reconcile();
    const inFlight = this.count();
    if (inFlight >= cap) return { ok: false, in_flight: inFlight, cap };
    sql.exec(`INSERT INTO slots (run_id, acquired_at) VALUES (?, ?)`, runId, Date.now());
    return { ok: true, held: false, in_flight: inFlight + 1 };
  }

  async release(runId: string): Promise<void> {
    this.ctx.storage.sql.exec(`DELETE FROM slots WHERE run_id = ?`, runId);
  }

  async inFlight(): Promise<number> {
    return this.count();
  }

  /** Frees slots whose runs have ended, or were never created, according to the run objects. */
  private async reconcile(): Promise<void> {
    const stale = this.ctx.storage.sql
      .exec<{ run_id: string }>(`SELECT run_id FROM slots WHERE acquired_at < ?`, Date.now() - GRACE_MS)
      .toArray()
      .map((r) => r.run_id);
    const statuses = await Promise.all(stale.map(async (id) => [id, await this.env.RUNS.getByName(id).status()] as const));
    const freed = statuses.filter(([, s]) => s === null || s === "completed" || s === "failed" || s === "cancelled").map(([id]) => id);
    for (const id of freed) this.ctx.storage.sql.exec(`DELETE FROM slots WHERE run_id = ?`, id);
    if (freed.length) log.warn("tenant.slots_reconciled", { freed: freed.length });
  }
}
