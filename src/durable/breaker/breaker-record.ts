// Where GET /metrics finds the breakers: each breaker writes its state to D1's breaker_states when
// it makes a transition (one statement; transitions are rare), and a scrape reads every row in one
// query, so a scrape sends no request to any breaker however many tenants and tools there are.
// Breakers are not a tenant's read model: the table lives in the first database (env.DB).
import { sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { breakerStates, type BreakerStateRow } from "../../db/schema";
import type { BreakerState } from "./breaker-state";
import { versionOf } from "./breaker-state";

/**
 * The one database breaker_states lives in, for the breakers' writes and the scrape's read alike:
 * re-pointing the table (when the read model is sharded by tenant) is a change here only.
 */
export const breakerStatesDb = (env: Env): D1Database => env.DB;

/** The row a breaker's state makes. */
export function breakerRow(tenant: string, tool: string, s: BreakerState, at: number): BreakerStateRow {
  const t = { closed: 0, open: 0, half_open: 0, ...s.transitions };
  return {
    tenant,
    tool,
    state: s.state,
    to_closed: t.closed,
    to_open: t.open,
    to_half_open: t.half_open,
    version: versionOf(s),
    changed_at: new Date(s.last_transition_at ?? at).toISOString(),
  };
}

/**
 * Writes a breaker's row. The counts are totals, not increments, so writing twice is harmless;
 * a row lands only over an older version, so two writes that cross (a transition's and a retry's)
 * leave the newer.
 */
export async function publishBreakerState(db: D1Database, row: BreakerStateRow): Promise<void> {
  const { tenant: _t, tool: _o, ...update } = row;
  await drizzle(db)
    .insert(breakerStates)
    .values(row)
    .onConflictDoUpdate({ target: [breakerStates.tenant, breakerStates.tool], set: update, setWhere: sql`${breakerStates.version} < ${row.version}` })
    .run();
}

export type PublishedBreaker = Pick<BreakerStateRow, "tenant" | "tool" | "state" | "to_closed" | "to_open" | "to_half_open">;

/** Every breaker that has made a transition: one query, one row per (tenant, tool). */
export async function readBreakerStates(db: D1Database): Promise<{ rows: PublishedBreaker[]; rowsRead: number }> {
  const res = await db.prepare("SELECT tenant, tool, state, to_closed, to_open, to_half_open FROM breaker_states").all<PublishedBreaker>();
  return { rows: res.results, rowsRead: res.meta.rows_read ?? 0 };
}
