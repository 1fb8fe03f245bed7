import type { Context } from "hono";
import type { RateLimitReason } from "../db/metric-rollups";
import { dbFor } from "../db/shards";
import { errorFields, log } from "../lib/log";

/**
 * Counts requests answered 429 in D1 (`metric_rate_limited`), for GET /metrics. A write per 429
 * would load D1 most exactly when a client floods us, so an isolate gathers its 429s and writes
 * them as one statement at most once a second, under waitUntil: the runtime keeps the isolate
 * until the write is done, so the count is not lost with the isolate, and it is shared by every
 * isolate once written. Cost: at most one D1 statement per isolate per second while it refuses
 * requests, none otherwise; no run pays anything.
 */
const FLUSH_EVERY_MS = 1000;

const pending = new Map<string, { tenant: string; reason: RateLimitReason; n: number }>();
let flushing: Promise<void> | null = null;
let lastFlush = 0;

export function countRateLimited(c: Context, tenant: string, reason: RateLimitReason): void {
  const key = `${tenant}\u0000${reason}`;
  const entry = pending.get(key) ?? { tenant, reason, n: 0 };
  entry.n += 1;
  pending.set(key, entry);
  flushing ??= flushAll(c.env as Env).finally(() => (flushing = null));
  try {
    c.executionCtx.waitUntil(flushing);
  } catch {
    // No execution context (an app.fetch without one, in tests): the write still runs.
  }
}

async function flushAll(env: Env): Promise<void> {
  while (pending.size > 0) {
    const wait = lastFlush + FLUSH_EVERY_MS - Date.now();
    if (wait > 0) await scheduler.wait(wait);
    lastFlush = Date.now();
    const rows = [...pending.values()];
    pending.clear();
    // Each tenant's count lives on its read-model shard: one statement per shard these 429s touched.
    let byShard: Map<D1Database, typeof rows>;
    try {
      byShard = Map.groupBy(rows, (r) => dbFor(env, r.tenant));
    } catch (err) {
      log.warn("metrics.rate_limited_write_failed", errorFields(err));
      return;
    }
    const written = await Promise.allSettled([...byShard].map(([db, shardRows]) => writeCounts(db, shardRows)));
    const failed = [...byShard.values()].filter((_, i) => written[i]!.status === "rejected");
    if (failed.length > 0) {
      // Counted again with the next 429s rather than lost (only the shards whose write failed).
      for (const r of failed.flat()) {
        const key = `${r.tenant}\u0000${r.reason}`;
        pending.set(key, { ...r, n: r.n + (pending.get(key)?.n ?? 0) });
      }
      const reason = written.find((w) => w.status === "rejected")?.reason as unknown;
      log.warn("metrics.rate_limited_write_failed", errorFields(reason));
      return;
    }
  }
}

function writeCounts(db: D1Database, rows: { tenant: string; reason: RateLimitReason; n: number }[]) {
  return db
    .prepare(
      `INSERT INTO metric_rate_limited (tenant, reason, n)
       SELECT json_extract(value, '$.tenant'), json_extract(value, '$.reason'), json_extract(value, '$.n') FROM json_each(?) WHERE true
       ON CONFLICT (tenant, reason) DO UPDATE SET n = n + excluded.n`,
    )
    .bind(JSON.stringify(rows))
    .run();
}
