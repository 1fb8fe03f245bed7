// The retention sweep (a Workers Cron Trigger, wrangler.toml [triggers]): deletes the D1 rows of
// runs whose retention has passed (`runs.expires_at`, set by the run's end projection; the run
// object deletes its own storage at the same instant). Bounded work per invocation: batches of
// BATCH rows, at most MAX_BATCHES of them, each one statement that walks the partial index on
// expires_at, so a sweep never reads more than it deletes. A backlog larger than that is taken by
// the next invocations. Rows of runs in flight have no expires_at and are never touched.
import { allShards } from "../db/shards";
import { errorFields, log } from "../lib/log";

const BATCH = 500;
const MAX_BATCHES = 20;

export interface SweepResult {
  deleted: number;
  batches: number;
  /** More expired rows may remain for the next sweep. */
  more: boolean;
}

/** Every read-model shard, each on its own and at once (the bounds hold per shard, as each is its own D1). */
export async function sweepExpiredRuns(env: Env, now: number): Promise<SweepResult> {
  const each = await Promise.all(allShards(env).map((db, shard) => sweepShard(db, shard, now)));
  return { deleted: each.reduce((n, r) => n + r.deleted, 0), batches: each.reduce((n, r) => n + r.batches, 0), more: each.some((r) => r.more) };
}

async function sweepShard(db: D1Database, shard: number, now: number): Promise<SweepResult> {
  const cutoff = new Date(now).toISOString();
  const statement = db.prepare(
    `DELETE FROM runs WHERE seq IN (SELECT seq FROM runs WHERE expires_at IS NOT NULL AND expires_at <= ?
       AND seq < (SELECT seq FROM metric_watermark)
       AND seq NOT IN (SELECT seq FROM metric_pending) ORDER BY expires_at LIMIT ?)`,
  );
  let deleted = 0;
  let batches = 0;
  let more = true;
  try {
    while (more && batches < MAX_BATCHES) {
      const result = await statement.bind(cutoff, BATCH).run();
      const n = result.meta.changes ?? 0;
      deleted += n;
      batches += 1;
      more = n === BATCH;
    }
  } catch (err) {
    // The next sweep takes up where this one stopped: rows are only deleted, never half-written.
    log.error("retention.sweep_failed", { shard, deleted, batches, ...errorFields(err) });
    return { deleted, batches, more: true };
  }
  // Every minute, so a sweep that found nothing says nothing.
  if (deleted > 0) log.info("retention.swept", { shard, deleted, batches, more, cutoff });
  return { deleted, batches, more };
}
