// The tenant's cap on runs in flight under a burst, through the whole API path, in two projects:
// "admission" (TENANT_SLOT_SHARDS from wrangler.toml, 16) and "admission-k1" (one shard, the
// exact limiter). The cap may never be exceeded: each shard grants against its own share, and
// the shares sum to the cap. With one shard the cap is also reached exactly.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { runCap } from "../../src/durable/run/start-run";
import type { RunResource } from "../../src/durable/run/run-view";
import { shareOf, usedShards } from "../../src/durable/tenant/tenant-shards";
import { api, errorOf, newApiKey, uniq } from "../helpers";
import { shardCount, shardsHolding, slotsPerShard } from "../tenant-slots";

/** A run that stays in flight until it is told to go on (or cancelled). */
const waits = { plan: { steps: [{ step_number: 1, tool: "Wait.signal", input: { name: "go", timeout_seconds: 3600 } }] } };

describe(`the cap on runs in flight, with ${shardCount()} limiter shard(s)`, () => {
  it("is never exceeded under 200 concurrent creates, and every slot goes back to the shard that granted it", async () => {
    const tenant = `burst-${uniq()}`;
    const { secret } = await newApiKey(tenant);
    const cap = runCap(env);
    const k = shardCount();
    const answers = await Promise.all(Array.from({ length: 200 }, () => api("/runs", { method: "POST", key: secret, json: waits })));
    const admitted: RunResource[] = [];
    for (const res of answers) {
      if (res.status === 201) admitted.push(await res.json());
      else {
        expect(res.status).toBe(429);
        expect((await errorOf(res)).code).toBe("too_many_runs_in_flight");
      }
    }
    // The bound is cap + K; shares that sum to the cap give the stronger one.
    expect(admitted.length).toBeLessThanOrEqual(cap);
    // One shard is the exact limiter: the burst fills the cap to the last slot.
    if (k === 1) expect(admitted.length).toBe(cap);
    // Every shard kept to its share, and each admitted run holds exactly one slot, somewhere.
    const perShard = await slotsPerShard(tenant);
    perShard.forEach((n, i) => expect(n, `shard ${i}`).toBeLessThanOrEqual(shareOf(i, cap, k)));
    expect(perShard.slice(usedShards(cap, k)).every((n) => n === 0)).toBe(true);
    expect(perShard.reduce((a, b) => a + b, 0)).toBe(admitted.length);

    // Ending them gives every slot back: to the shard each run's log says granted it.
    const sample = admitted[0]!;
    expect(await shardsHolding(tenant, sample.run_id)).toHaveLength(1);
    const cancels = await Promise.all(admitted.map((r) => api(`/runs/${r.run_id}/cancel`, { method: "POST", key: secret })));
    expect(cancels.map((r) => r.status).filter((s) => s !== 200)).toEqual([]);
    expect(await slotsPerShard(tenant)).toEqual(perShard.map(() => 0));
  });
});
