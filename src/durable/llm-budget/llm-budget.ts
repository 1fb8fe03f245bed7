// LlmBudget: one per tenant (LLM_BUDGET.getByName(tenant)), holding the tenant's daily LLM spend
// cap exactly under concurrency. Before a model call, the step reserves the call's worst case
// (budget.ts reservationUsd); after it, it settles the actual cost, which releases the unused part.
// Every reservation is checked and written in one synchronous stretch of SQL inside the object, so
// concurrent calls are serialised by the object itself: no count after the fact, no eventual
// consistency (unlike AI Gateway's limits).
//
// Amounts are kept as integer nano-dollars (1e-9 USD), rounded up, so sums of many tiny calls do
// not drift as floating-point sums would, and a day holds up to ~9 million USD exactly.
import { DurableObject } from "cloudflare:workers";
import { z } from "zod";

const NANO = 1_000_000_000;
// Rounded up, less a hair for binary fractions (0.1 * 1e9 is 100000000.00000001, which is 1e8).
const toNano = (usd: number) => Math.max(0, Math.ceil(usd * NANO - 1e-6));
const toUsd = (nano: number) => nano / NANO;

/** A UTC day, "YYYY-MM-DD": the cap's period. */
export const daySchema = z.iso.date();
export const utcDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);
/** The start of the UTC day after `day`, as an ISO time: when a refused reservation may be asked again. */
export function nextUtcDay(day: string): string {
  const start = Date.parse(`${day}T00:00:00.000Z`);
  return new Date(start + 86_400_000).toISOString();
}

export type ReserveResult =
  | { granted: true; reserved_usd: number; spent_usd: number; cap_usd: number | null }
  | { granted: false; denied: true; retry_at: string; spent_usd: number; cap_usd: number }
  /** A caller's bug (a negative amount, a malformed day): answered, not thrown, so it reads the same across RPC. */
  | { granted: false; invalid: string };

export type SettleResult =
  | { settled: true; actual_usd: number; released_usd: number }
  | { settled: false; reason: "unknown_key" }
  | { settled: false; reason: "invalid"; message: string };

const validAmount = (usd: number) => Number.isFinite(usd) && usd >= 0;

export interface LlmBudgetStatus {
  day: string;
  cap_usd: number | null;
  /** Settled calls' actual cost plus outstanding reservations, for the day. */
  committed_usd: number;
  outstanding_reservations: number;
}

export class LlmBudget extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const sql = ctx.storage.sql;
    sql.exec(`CREATE TABLE IF NOT EXISTS cap (id INTEGER PRIMARY KEY CHECK (id = 1), usd_per_day_nano INTEGER, updated_at TEXT NOT NULL)`);
    // amount_nano is the reservation until settled, then the actual cost.
    sql.exec(
      `CREATE TABLE IF NOT EXISTS reservations (key TEXT PRIMARY KEY, day TEXT NOT NULL, amount_nano INTEGER NOT NULL, reserved_nano INTEGER NOT NULL, settled INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID`,
    );
    sql.exec(`CREATE INDEX IF NOT EXISTS reservations_day ON reservations (day)`);
  }

  private capNano(): number | null {
    return this.ctx.storage.sql.exec<{ c: number | null }>(`SELECT usd_per_day_nano AS c FROM cap WHERE id = 1`).toArray()[0]?.c ?? null;
  }

  private committedNano(day: string): number {
    return this.ctx.storage.sql.exec<{ n: number }>(`SELECT coalesce(sum(amount_nano), 0) AS n FROM reservations WHERE day = ?`, day).one().n;
  }

  /** Sets the cap (null: none). Raising it lets refused reservations through when asked again. */
  async setCap(usdPerDay: number | null): Promise<{ cap_usd: number | null; updated_at: string }> {
    const updated_at = new Date().toISOString();
    const nano = usdPerDay === null ? null : toNano(usdPerDay);
    this.ctx.storage.sql.exec(`INSERT OR REPLACE INTO cap (id, usd_per_day_nano, updated_at) VALUES (1, ?, ?)`, nano, updated_at);
    return { cap_usd: nano === null ? null : toUsd(nano), updated_at };
  }

  /**
   * Holds back `usd` of `day`'s cap for the call `key`, or refuses (until the next UTC day, or until
   * the cap is raised). Idempotent by key: a call that reserved already gets its reservation again.
   */
  async reserve(key: string, usd: number, day: string): Promise<ReserveResult> {
    if (!daySchema.safeParse(day).success) return { granted: false, invalid: `The day is a UTC day as YYYY-MM-DD, not ${JSON.stringify(day)}.` };
    if (!validAmount(usd)) return { granted: false, invalid: `A reservation is a finite amount of USD ≥ 0, not ${usd}.` };
    const sql = this.ctx.storage.sql;
    // No await from here to the write: the object runs this as one step, whatever else is queued.
    const cap = this.capNano();
    const held = sql.exec<{ amount_nano: number }>(`SELECT amount_nano FROM reservations WHERE key = ?`, key).toArray()[0];
    const committed = this.committedNano(day);
    if (held) return { granted: true, reserved_usd: toUsd(held.amount_nano), spent_usd: toUsd(committed), cap_usd: cap === null ? null : toUsd(cap) };
    const amount = toNano(usd);
    if (cap !== null && committed + amount > cap) {
      return { granted: false, denied: true, retry_at: nextUtcDay(day), spent_usd: toUsd(committed), cap_usd: toUsd(cap) };
    }
    sql.exec(`INSERT INTO reservations (key, day, amount_nano, reserved_nano) VALUES (?, ?, ?, ?)`, key, day, amount, amount);
    // Days before yesterday can no longer be reserved against or settled late; forget them.
    sql.exec(`DELETE FROM reservations WHERE day < ?`, utcDay(Date.parse(`${day}T00:00:00.000Z`) - 86_400_000));
    return { granted: true, reserved_usd: toUsd(amount), spent_usd: toUsd(committed + amount), cap_usd: cap === null ? null : toUsd(cap) };
  }

  /**
   * Replaces the reservation `key` with the call's actual cost, releasing the unused part (a call
   * that cost more than reserved counts its actual cost: the money is spent). Idempotent: settling
   * again changes nothing and answers the same.
   */
  async settle(key: string, actualUsd: number): Promise<SettleResult> {
    if (!validAmount(actualUsd)) return { settled: false, reason: "invalid", message: `A cost is a finite amount of USD ≥ 0, not ${actualUsd}.` };
    const sql = this.ctx.storage.sql;
    const row = sql
      .exec<{ amount_nano: number; reserved_nano: number; settled: number }>(`SELECT amount_nano, reserved_nano, settled FROM reservations WHERE key = ?`, key)
      .toArray()[0];
    if (!row) return { settled: false, reason: "unknown_key" };
    if (!row.settled) {
      const actual = toNano(actualUsd);
      sql.exec(`UPDATE reservations SET amount_nano = ?, settled = 1 WHERE key = ?`, actual, key);
      row.amount_nano = actual;
    }
    return { settled: true, actual_usd: toUsd(row.amount_nano), released_usd: toUsd(Math.max(0, row.reserved_nano - row.amount_nano)) };
  }

  /** `day`: from utcDay(). */
  async status(day: string): Promise<LlmBudgetStatus> {
    const cap = this.capNano();
    const outstanding = this.ctx.storage.sql.exec<{ n: number }>(`SELECT count(*) AS n FROM reservations WHERE day = ? AND settled = 0`, day).one().n;
    return { day, cap_usd: cap === null ? null : toUsd(cap), committed_usd: toUsd(this.committedNano(day)), outstanding_reservations: outstanding };
  }
}

/** The LLM_BUDGET binding, until it is in wrangler.toml (and so in the generated Env). */
export interface LlmBudgetEnv {
  LLM_BUDGET: DurableObjectNamespace<LlmBudget>;
}

export function llmBudgetFor(env: Env, tenant: string): DurableObjectStub<LlmBudget> {
  const ns = (env as Env & Partial<LlmBudgetEnv>).LLM_BUDGET;
  if (!ns) throw new Error("The LLM_BUDGET Durable Object binding is not configured (wrangler.toml).");
  return ns.getByName(tenant);
}
