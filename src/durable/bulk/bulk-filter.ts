// What a bulk job acts on: a filter over the tenant's runs in the D1 read model, read one bounded
// page at a time (keyset on created_at, run_id: stable while runs change status and new ones come).
import { and, desc, eq, gt, inArray, lt, lte, or, sql, type SQL } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { runs } from "../../db/schema";
import type { RunStatus } from "../../execution/statuses";

export const BULK_ACTIONS = ["cancel", "resume", "rerun"] as const;
export type BulkAction = (typeof BULK_ACTIONS)[number];

/** The statuses each action can act on: a run in any other status is never matched. */
export const ACTS_ON: Record<BulkAction, readonly RunStatus[]> = {
  cancel: ["pending", "running", "waiting", "paused"],
  resume: ["paused", "failed", "cancelled"],
  rerun: ["failed", "cancelled"],
};

export interface BulkFilter {
  status?: RunStatus;
  created_after?: string;
  created_before?: string;
  tool?: string;
  error_code?: string;
}

export interface PageCursor {
  created_at: string;
  run_id: string;
}

/**
 * One page of the runs `filter` matches for `tenant`, newest first, after `cursor`. `until`: the
 * job's start, so runs made since (a bulk rerun's own new runs among them) are never matched.
 */
export async function matchingRuns(
  db: D1Database,
  q: { tenant: string; action: BulkAction; filter: BulkFilter; until: string; cursor: PageCursor | null; limit: number },
): Promise<{ run_id: string; created_at: string }[]> {
  const f = q.filter;
  const where: (SQL | undefined)[] = [eq(runs.tenant, q.tenant), lte(runs.created_at, q.until)];
  where.push(f.status ? eq(runs.status, f.status) : inArray(runs.status, [...ACTS_ON[q.action]]));
  if (f.created_after) where.push(gt(runs.created_at, f.created_after));
  if (f.created_before) where.push(lt(runs.created_at, f.created_before));
  if (f.error_code) where.push(eq(runs.error_code, f.error_code));
  // Runs projected before `tools` existed have no list of tools: their ended steps say which ran.
  if (f.tool)
    where.push(
      sql`(instr(${runs.tools}, ${`,${f.tool},`}) > 0 OR (${runs.tools} IS NULL AND EXISTS (SELECT 1 FROM json_each(${runs.steps}) WHERE json_extract(value, '$.tool') = ${f.tool})))`,
    );
  if (q.cursor) where.push(or(lt(runs.created_at, q.cursor.created_at), and(eq(runs.created_at, q.cursor.created_at), lt(runs.run_id, q.cursor.run_id))));
  return drizzle(db)
    .select({ run_id: runs.run_id, created_at: runs.created_at })
    .from(runs)
    .where(and(...where))
    .orderBy(desc(runs.created_at), desc(runs.run_id))
    .limit(q.limit)
    .all();
}
