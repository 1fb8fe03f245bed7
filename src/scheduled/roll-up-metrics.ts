// The metric rollup (a Workers Cron Trigger, every minute, before the retention sweep): adds the
// `runs` rows above the watermark to the rollup tables GET /metrics reads, in batches of at most
// BATCH rows, and the endings of pending runs (in flight when it last passed) once they have ended.
// A run's own projection writes no metric rows: the rollup's writes are per batch, one row per
// (tenant, tool, bucket) the batch touched, however many runs it holds.
//
// Each batch is one D1 batch, so one transaction: its additions, the pending runs it takes or
// leaves, and the watermark move together. A batch that fails changes nothing and the next one
// takes the same rows; two invocations that overlap read the watermark inside their transactions,
// so neither counts a row the other has taken. See src/db/metric-rollup-sql.ts for which rows are taken.
import { addTo, contributions, tail, TERMINAL, type RollupTable } from "../db/metric-rollup-sql";
import { allShards } from "../db/shards";
import { errorFields, log } from "../lib/log";

const BATCH = 1000;
const MAX_BATCHES = 20;

export interface RollupResult {
  rows: number;
  batches: number;
  /** More rows may remain above the watermark for the next invocation. */
  more: boolean;
}

export interface RollupLimits {
  batch?: number;
  maxBatches?: number;
}

/**
 * Every read-model shard, each on its own (a shard's runs, rollups and watermark are its own; one
 * shard that fails leaves the others' passes intact). The limits hold per shard: each shard's D1 is
 * its own single thread, so N shards take N times the rows in the same minute.
 */
export async function rollUpMetrics(env: Env, limits: RollupLimits = {}): Promise<RollupResult> {
  const each = await Promise.all(allShards(env).map((db, shard) => rollUpShard(db, shard, limits)));
  return { rows: sum(each, "rows"), batches: sum(each, "batches"), more: each.some((r) => r.more) };
}

const sum = (results: RollupResult[], key: "rows" | "batches") => results.reduce((n, r) => n + r[key], 0);

async function rollUpShard(db: D1Database, shard: number, limits: RollupLimits): Promise<RollupResult> {
  const batch = limits.batch ?? BATCH;
  const maxBatches = limits.maxBatches ?? MAX_BATCHES;
  let rows = 0;
  let batches = 0;
  let more = true;
  try {
    while (more && batches < maxBatches) {
      // The batch's upper bound: the seq of its last row, or the watermark itself when there are no
      // new rows (the pending runs are still looked at).
      const next = await db
        .prepare(
          `SELECT (SELECT seq FROM metric_watermark) AS watermark, max(seq) AS upper, count(*) AS n
           FROM (SELECT seq FROM runs WHERE seq > (SELECT seq FROM metric_watermark) ORDER BY seq LIMIT ?)`,
        )
        .bind(batch)
        .first<{ watermark: number; upper: number | null; n: number }>();
      if (!next) throw new Error("metric_watermark has no row");
      const upper = String(Math.trunc(next.upper ?? next.watermark));
      const add = contributions(tail(upper));
      await db.batch([
        ...(Object.keys(add) as RollupTable[]).map((table) => db.prepare(addTo(table, add[table]))),
        // Runs still in flight: their start is counted, their ending is for a later pass.
        db.prepare(
          `INSERT INTO metric_pending (seq, prev) SELECT seq, NULL FROM runs
           WHERE seq > (SELECT seq FROM metric_watermark) AND seq <= ${upper} AND status NOT IN ${TERMINAL}
           ON CONFLICT (seq) DO NOTHING`,
        ),
        db.prepare(
          `DELETE FROM metric_pending WHERE seq IN (SELECT r.seq FROM metric_pending p CROSS JOIN runs r ON r.seq = p.seq
           WHERE r.seq <= ${upper} AND r.status IN ${TERMINAL})`,
        ),
        db.prepare(`UPDATE metric_watermark SET seq = max(seq, ${upper})`),
      ]);
      rows += next.n;
      batches += 1;
      more = next.n === batch;
    }
  } catch (err) {
    log.error("metrics.rollup_failed", { shard, rows, batches, ...errorFields(err) });
    return { rows, batches, more: true };
  }
  if (rows > 0) log.info("metrics.rolled_up", { shard, rows, batches, more });
  return { rows, batches, more };
}
