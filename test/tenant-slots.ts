// Test helpers for a tenant's cap on runs in flight, whatever TENANT_SLOT_SHARDS the project
// sets: the tenant's limiter shards, who holds a run's slot, and filling the cap with placeholders.
import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { runIdFor } from "../src/durable/run/start-run";
import { probeOrder, shardStub, shareOf, slotShardCount, usedShards } from "../src/durable/tenant/tenant-shards";

export const shardCount = () => slotShardCount(env);

/** Every shard of the tenant's limiter, shard 0 first. */
export const shardsOf = (tenant: string) => Array.from({ length: shardCount() }, (_, i) => shardStub(env, tenant, i));

/** The slots taken on each shard. */
export async function slotsPerShard(tenant: string): Promise<number[]> {
  return Promise.all(
    shardsOf(tenant).map((s) => runInDurableObject(s, (_i, state) => state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM slots").one().n)),
  );
}

/** Which shards hold a slot for `runId` (one, or none, for a run that keeps to the rules). */
export async function shardsHolding(tenant: string, runId: string): Promise<number[]> {
  const held = await Promise.all(
    shardsOf(tenant).map((s) =>
      runInDurableObject(s, (_i, state) => state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM slots WHERE run_id = ?", runId).one().n),
    ),
  );
  return held.flatMap((n, i) => (n > 0 ? [i] : []));
}

export interface Placeholder {
  shard: number;
  run_id: string;
}

/**
 * Takes every slot of the tenant's `cap` with placeholder runs (no run object holds them, so they
 * must be given back by `releaseAll` before the grace period could free them), leaving one slot
 * free on each shard listed in `free` (a shard may be listed more than once).
 */
export async function fillCap(tenant: string, cap: number, free: number[] = []): Promise<Placeholder[]> {
  const k = shardCount();
  const taken: Placeholder[] = [];
  for (let shard = 0; shard < usedShards(cap, k); shard++) {
    const share = shareOf(shard, cap, k);
    const n = share - free.filter((f) => f === shard).length;
    for (let j = 0; j < n; j++) {
      const run_id = `placeholder_${tenant}_${shard}_${j}`;
      const r = await shardStub(env, tenant, shard).acquire(run_id, share);
      if (!r.ok) throw new Error(`shard ${shard} refused placeholder ${j} of ${n}`);
      taken.push({ shard, run_id });
    }
  }
  return taken;
}

export async function releaseAll(tenant: string, placeholders: Placeholder[]): Promise<void> {
  for (const p of placeholders) await shardStub(env, tenant, p.shard).release(p.run_id);
}

/**
 * An Idempotency-Key whose run asks shard `home` first (1 key in K fits, so a few hashes), so a
 * test knows which shards a run will ask before it exists. `prefix` keeps two runs apart.
 */
export async function keyHomedAt(tenant: string, home: number, cap: number, prefix = "k"): Promise<{ key: string; run_id: string }> {
  for (let i = 0; ; i++) {
    const run_id = await runIdFor(tenant, `${prefix}${i}`);
    if (probeOrder(run_id, cap, shardCount())[0] === home) return { key: `${prefix}${i}`, run_id };
  }
}
