// The run history (D1's `runs`), newest first, in keyset pages on (created_at, run_id): stable
// while new runs arrive, since a new run sorts before any cursor already handed out. A tenant's
// runs live on one read-model shard (src/db/shards.ts), so GET /runs reads one; the operator's
// GET /admin/runs asks every shard for its newest page past the same cursor and merges them in
// the same order. Each shard's first `limit + 1` rows include all of that shard's rows in the
// merged page, so the merge is exact, and a run id lives on one shard only, so no row repeats.
import { and, desc, eq, gt, lt, or, type SQL } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { runs as runsTable } from "../db/schema";
import type { RunStatus } from "../execution/statuses";
import { ApiError } from "./errors";

type RunRow = typeof runsTable.$inferSelect;

export interface HistoryFilter {
  tenant?: string;
  status?: RunStatus;
  created_after?: string;
  created_before?: string;
  cursor?: string;
}

interface Cursor {
  created_at: string;
  run_id: string;
}

const encodeCursor = (c: Cursor) => btoa(JSON.stringify([c.created_at, c.run_id])).replaceAll("=", "");

function decodeCursor(raw: string): Cursor {
  try {
    const [created_at, run_id] = JSON.parse(atob(raw)) as unknown[];
    if (typeof created_at === "string" && typeof run_id === "string") return { created_at, run_id };
  } catch {
    // fall through to the 400 below
  }
  throw new ApiError(400, "invalid_cursor", "The cursor is not one this API returned.");
}

/** Up to `limit + 1` rows of one shard past the filter's cursor, newest first (the extra says a next page exists). */
async function shardPage(db: D1Database, f: HistoryFilter, limit: number): Promise<RunRow[]> {
  const where: (SQL | undefined)[] = [];
  if (f.tenant !== undefined) where.push(eq(runsTable.tenant, f.tenant));
  if (f.status) where.push(eq(runsTable.status, f.status));
  if (f.created_after) where.push(gt(runsTable.created_at, f.created_after));
  if (f.created_before) where.push(lt(runsTable.created_at, f.created_before));
  if (f.cursor) {
    const cur = decodeCursor(f.cursor);
    where.push(or(lt(runsTable.created_at, cur.created_at), and(eq(runsTable.created_at, cur.created_at), lt(runsTable.run_id, cur.run_id))));
  }
  return drizzle(db)
    .select()
    .from(runsTable)
    .where(and(...where))
    .orderBy(desc(runsTable.created_at), desc(runsTable.run_id))
    .limit(limit + 1)
    .all();
}

/** Newest first by (created_at, run_id), as the shards' ORDER BY (BINARY collation: ISO times and ASCII ids compare the same in JS). */
const newestFirst = (a: RunRow, b: RunRow) =>
  a.created_at !== b.created_at ? (a.created_at < b.created_at ? 1 : -1) : a.run_id < b.run_id ? 1 : a.run_id > b.run_id ? -1 : 0;

/** One page of history over the given shards (one for a tenant, every shard for an operator). */
export async function historyPage(shards: D1Database[], f: HistoryFilter, limit: number): Promise<{ rows: RunRow[]; next_cursor: string | null }> {
  // Decoded before any shard is asked, so a bad cursor is a 400 and costs no query.
  if (f.cursor) decodeCursor(f.cursor);
  const merged = (await Promise.all(shards.map((db) => shardPage(db, f, limit)))).flat().sort(newestFirst);
  const rows = merged.slice(0, limit);
  const last = rows.at(-1);
  return { rows, next_cursor: merged.length > limit && last ? encodeCursor(last) : null };
}

/** A history row as the API lists it. */
export const runSummary = (r: RunRow) => ({
  run_id: r.run_id,
  prompt: r.prompt,
  // The read model holds only statuses the run object wrote.
  status: r.status as RunStatus,
  planner: r.planner,
  step_count: r.step_count,
  result: r.result === null ? null : (JSON.parse(r.result) as unknown),
  error: r.error_code ? { code: r.error_code, message: r.error_message ?? "" } : null,
  created_at: r.created_at,
  started_at: r.started_at,
  completed_at: r.completed_at,
});
