// Reads of the sharded read model for tests (src/db/shards.ts): a tenant's shard, or every shard
// when a test knows a run id but not which shard holds it.
import { env } from "cloudflare:workers";
import { allShards, dbFor } from "../src/db/shards";

/** The D1 database holding this tenant's rows. */
export const shardDb = (tenant: string): D1Database => dbFor(env, tenant);

/** One query on every shard, the rows concatenated in shard order. */
export async function rowsOnEveryShard<T>(sql: string, ...binds: unknown[]): Promise<T[]> {
  const each = await Promise.all(
    allShards(env).map((db) =>
      db
        .prepare(sql)
        .bind(...binds)
        .all<T>(),
    ),
  );
  return each.flatMap((r) => r.results);
}

/** The row some shard has (a run id, a key: on one shard at most), or null. */
export async function rowOnAnyShard<T>(sql: string, ...binds: unknown[]): Promise<T | null> {
  return (await rowsOnEveryShard<T>(sql, ...binds))[0] ?? null;
}

/** A `SELECT count(*) AS n …` summed over every shard. */
export async function countOnEveryShard(sql: string, ...binds: unknown[]): Promise<number> {
  return (await rowsOnEveryShard<{ n: number }>(sql, ...binds)).reduce((n, r) => n + r.n, 0);
}
