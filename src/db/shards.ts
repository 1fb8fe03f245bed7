// The read model's shards: N D1 databases, a tenant's rows all on one of them, picked by a stable
// hash of the tenant's name. Bindings are static, so shard 0 is `DB` (database_name "crane", so a
// checkout's local data stays where it was) and shard i > 0 is `DB_i`; READ_MODEL_SHARDS says how
// many there are, and a count that does not match the bindings is refused loudly (every use throws
// ShardConfigError, /health answers 503) rather than silently sending tenants to too few shards.
//
// Per tenant (on the tenant's shard): runs, the metric rollups and their watermark, todos, the
// schedules' index, MCP servers, rate-limited counts. Control plane (shard 0 only): API keys and
// tenant settings, read to learn the tenant before any shard can be chosen (docs/architecture.md).
//
// Changing N moves tenants between shards: resharding a deployment is not supported (see docs).

import { bindingSeries, seriesIndex } from "../lib/binding-series";

/** The largest shard count the bindings can name; a guard against a typo, not a design limit. */
export const MAX_SHARDS = 64;

export class ShardConfigError extends Error {
  override readonly name = "ShardConfigError";
}

/** The shard that holds a tenant's rows, out of `n`. Pure: the same answer forever for the same n. */
export const shardOf = (tenant: string, n: number): number => seriesIndex(tenant, n);

const isD1 = (v: unknown): v is D1Database => typeof v === "object" && v !== null && typeof (v as { prepare?: unknown }).prepare === "function";

const shards = bindingSeries({
  countVar: "READ_MODEL_SHARDS",
  count: (env) => env.READ_MODEL_SHARDS ?? "",
  max: MAX_SHARDS,
  base: "DB",
  is: isD1,
  kind: "D1 binding",
  declared: "wrangler.toml [[d1_databases]]",
  counted: "bindings",
  error: ShardConfigError,
});

/** The shards in order, or ShardConfigError when READ_MODEL_SHARDS and the bindings disagree. */
export const shardConfig: (env: Env) => D1Database[] | ShardConfigError = shards.config;

/** Every shard, in order (fan-out for operator and cross-tenant views, the Cron Trigger's work). */
export const allShards: (env: Env) => D1Database[] = shards.all;

/** The database holding this tenant's rows. */
export const dbFor: (env: Env, tenant: string) => D1Database = shards.pick;

/** The control plane's database (API keys, tenant settings): shard 0, read before a tenant is known. */
export function controlDb(env: Env): D1Database {
  return allShards(env)[0]!;
}

/**
 * Runs `read` on every shard at once and returns the answers in shard order. A tenant lives on one
 * shard, so rows keyed by tenant never meet twice; callers that page merge by their own order.
 */
export async function onEveryShard<T>(env: Env, read: (db: D1Database, shard: number) => Promise<T>): Promise<T[]> {
  return Promise.all(allShards(env).map((db, i) => read(db, i)));
}
