// What takes a slot and what gives one back, with the shards wrangler.toml sets and with one (the
// two "admission" projects run this file): a run that ends inline takes none, even at the cap; a
// create that crashed after taking its slot reuses that slot when it is retried, and, never
// retried, the shard holding it frees it once the grace period has passed (its run object says no
// such run exists), while it keeps the slot of a run still in flight.
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { RunEvent } from "../../src/durable/run/domain/events";
import type { RunObject } from "../../src/durable/run/run-object";
import type { RunResource } from "../../src/durable/run/run-view";
import { runCap } from "../../src/durable/run/start-run";
import type { TenantLimiter } from "../../src/durable/tenant/tenant-limiter";
import { shardStub, shareOf } from "../../src/durable/tenant/tenant-shards";
import { api, newApiKey, uniq } from "../helpers";
import { fillCap, keyHomedAt, releaseAll, shardCount, shardsHolding, slotsPerShard, type Placeholder } from "../tenant-slots";

/** A run that stays in flight until it is told to go on (or cancelled). */
const waits = { plan: { steps: [{ step_number: 1, tool: "Wait.signal", input: { name: "go", timeout_seconds: 3600 } }] } };
/** A run whose one step runs inside its create: it ends before POST /runs answers. */
const calc = { plan: { steps: [{ step_number: 1, tool: "Calculator.evaluate", input: { expression: "6 * 7" } }] } };

const post = (key: string, json: unknown, idem?: string) =>
  api("/runs", { method: "POST", key, json, ...(idem ? { headers: { "idempotency-key": idem } } : {}) });
const taken = async (tenant: string) => (await slotsPerShard(tenant)).reduce((a, b) => a + b, 0);
const limiterRequests = async (runId: string, key: string) =>
  ((await (await api(`/runs/${runId}/usage`, { key })).json()) as { shared_requests: { tenant_limiter?: number } }).shared_requests.tenant_limiter ?? 0;

/** The run object dies between taking its slot and writing run.created (once). */
async function crashBeforeCreated(runId: string): Promise<void> {
  await runInDurableObject(env.RUNS.getByName(runId), (instance: RunObject) => {
    const host = instance as unknown as { command?: () => Promise<never> };
    host.command = async () => {
      delete host.command;
      throw new Error("crashed before run.created");
    };
  });
}

describe(`a run's slot, with ${shardCount()} limiter shard(s)`, () => {
  it("a run that ends inline takes no slot and asks no shard, even with every slot taken", async () => {
    const tenant = `inline-${uniq()}`;
    const { secret } = await newApiKey(tenant);
    const held = await fillCap(tenant, runCap(env));
    // The cap is full: a run that would stay in flight is refused...
    expect((await post(secret, waits)).status).toBe(429);
    // ...and one whose steps all run inline is created, ends, and holds nothing.
    const res = await post(secret, calc);
    expect(res.status).toBe(201);
    const run = (await res.json()) as RunResource;
    expect(run.status).toBe("completed");
    const created = ((await (await api(`/runs/${run.run_id}/events`, { key: secret })).json()) as { events: RunEvent[] }).events[0];
    expect(created).toMatchObject({ type: "run.created", data: { holds_slot: false } });
    expect(await shardsHolding(tenant, run.run_id)).toEqual([]);
    expect(await taken(tenant)).toBe(held.length);
    expect(await limiterRequests(run.run_id, secret)).toBe(0);
    await releaseAll(tenant, held);
  });

  it("a create that crashed after taking its slot reuses it when retried; never retried, its shard frees it after the grace period", async () => {
    const tenant = `crash-${uniq()}`;
    const { secret } = await newApiKey(tenant);
    const cap = runCap(env);
    const home = shardCount() - 1;
    const a = await keyHomedAt(tenant, home, cap, "a");
    const b = await keyHomedAt(tenant, home, cap, "b");

    await crashBeforeCreated(a.run_id);
    expect((await post(secret, waits, a.key)).status).toBe(500);
    expect(await shardsHolding(tenant, a.run_id)).toEqual([home]);
    expect((await api(`/runs/${a.run_id}`, { key: secret })).status).toBe(404);
    // The client retries (same key, same run object): the shard answers that it holds the slot already.
    expect((await post(secret, waits, a.key)).status).toBe(201);
    expect(await shardsHolding(tenant, a.run_id)).toEqual([home]);
    expect(await taken(tenant)).toBe(1);

    await crashBeforeCreated(b.run_id);
    expect((await post(secret, waits, b.key)).status).toBe(500);
    expect(await shardsHolding(tenant, b.run_id)).toEqual([home]);
    // b is never retried. The grace period passes on the home shard's clock, then slots taken
    // since (inside it) fill the shard's share, so the next request for a slot finds it full and
    // asks the run objects of the slots older than the grace period: a's run is in flight, b's
    // does not exist.
    const shard = shardStub(env, tenant, home);
    await runInDurableObject(shard, (instance: TenantLimiter) => {
      instance.clock = () => Date.now() + 11_000;
    });
    const share = shareOf(home, cap, shardCount());
    const fresh: Placeholder[] = [];
    for (let j = 0; j < share - 2; j++) {
      const run_id = `placeholder_${uniq()}`;
      expect((await shard.acquire(run_id, share)).ok).toBe(true);
      fresh.push({ shard: home, run_id });
    }
    const next = `placeholder_${uniq()}`;
    expect(await shard.acquire(next, share)).toMatchObject({ ok: true, held: false });
    expect(await shardsHolding(tenant, b.run_id)).toEqual([]);
    expect(await shardsHolding(tenant, a.run_id)).toEqual([home]);
    expect((await slotsPerShard(tenant))[home]).toBe(share);

    expect((await api(`/runs/${a.run_id}/cancel`, { method: "POST", key: secret })).status).toBe(200);
    await releaseAll(tenant, [...fresh, { shard: home, run_id: next }]);
    expect(await taken(tenant)).toBe(0);
  });
});
