// A tenant's cap split across limiter shards (TENANT_SLOT_SHARDS, 16 here), through the API: a
// full shard's run borrows from another and gives the slot back there, a slot whose release
// was lost is freed by the shard that holds it, a replay or a resume never holds two slots, and
// the webhook-events hint reaches every shard. Run ids come from Idempotency-Keys, so each test
// knows which shards a run will ask before it exists.
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, inject, it } from "vitest";
import type { RunEvent } from "../src/durable/run/domain/events";
import { runCap, runIdFor } from "../src/durable/run/start-run";
import type { RunResource } from "../src/durable/run/run-view";
import type { TenantLimiter } from "../src/durable/tenant/tenant-limiter";
import { acquireSlot, probeOrder, shardName, shardStub, shareOf, slotShardCount } from "../src/durable/tenant/tenant-shards";
import { api, errorOf, newApiKey, uniq } from "./helpers";
import { fillCap, releaseAll, shardsHolding, shardsOf, slotsPerShard, type Placeholder } from "./tenant-slots";

const waits = { plan: { steps: [{ step_number: 1, tool: "Wait.signal", input: { name: "go", timeout_seconds: 3600 } }] } };
const cap = () => runCap(env);
const k = () => slotShardCount(env);

async function tenant(): Promise<{ tenant: string; key: string }> {
  const name = `shards-${uniq()}`;
  return { tenant: name, key: (await newApiKey(name)).secret };
}

/** An Idempotency-Key whose run asks `home` first (a few hashes: 1 in K keys fits); `prefix` keeps two runs apart. */
async function keyAskingFirst(t: string, home: number, prefix = "k"): Promise<{ key: string; run_id: string }> {
  for (let i = 0; ; i++) {
    const run_id = await runIdFor(t, `${prefix}${i}`);
    if (probeOrder(run_id, cap(), k())[0] === home) return { key: `${prefix}${i}`, run_id };
  }
}

const post = (key: string, idem: string, json: unknown = waits) => api("/runs", { method: "POST", key, json, headers: { "idempotency-key": idem } });

/** Takes every slot of one shard's share with placeholders (runs that never existed). */
async function fillShard(t: string, shard: number, leave = 0): Promise<Placeholder[]> {
  const share = shareOf(shard, cap(), k());
  const taken: Placeholder[] = [];
  for (let j = 0; j < share - leave; j++) {
    const run_id = `placeholder_${uniq()}`;
    expect((await shardStub(env, t, shard).acquire(run_id, share)).ok).toBe(true);
    taken.push({ shard, run_id });
  }
  return taken;
}

async function eventsOf(runId: string, key: string): Promise<RunEvent[]> {
  return ((await (await api(`/runs/${runId}/events?limit=1000`, { key })).json()) as { events: RunEvent[] }).events;
}

const limiterRequests = async (runId: string, key: string) =>
  ((await (await api(`/runs/${runId}/usage`, { key })).json()) as { shared_requests: { tenant_limiter?: number } }).shared_requests.tenant_limiter;

describe("a tenant's limiter shards", () => {
  it("spreads the cap over the shards, shares differing by at most one, and the project runs more than three", () => {
    expect(k()).toBeGreaterThan(3);
    const shares = Array.from({ length: k() }, (_, i) => shareOf(i, cap(), k()));
    expect(shares.reduce((a, b) => a + b, 0)).toBe(cap());
    expect(Math.max(...shares) - Math.min(...shares)).toBeLessThanOrEqual(1);
    // A cap under K: the first `cap` shards hold one each, and a run asks only those.
    expect(Array.from({ length: k() }, (_, i) => shareOf(i, 5, k()))).toEqual([1, 1, 1, 1, 1, ...Array(k() - 5).fill(0)]);
    for (let i = 0; i < 50; i++) for (const s of probeOrder(`run_${i}`, 5, k())) expect(s).toBeLessThan(5);
    // Three distinct shards, the home first and the same on every attempt, the other two drawn afresh.
    const orders = Array.from({ length: 50 }, () => probeOrder("run_x", cap(), k()));
    for (const o of orders) expect([o.length, new Set(o).size, o[0]]).toEqual([3, 3, orders[0]![0]]);
    expect(new Set(orders.map((o) => o.slice(1).join())).size).toBeGreaterThan(1);
  });

  it("a run whose home shard is full borrows from another, and gives the slot back there", async () => {
    const t = await tenant();
    const { key, run_id } = await keyAskingFirst(t.tenant, 3);
    const full = await fillShard(t.tenant, 3);
    const res = await post(t.key, key);
    expect(res.status).toBe(201);
    const [lender, ...more] = await shardsHolding(t.tenant, run_id);
    expect(more).toEqual([]);
    expect(lender).not.toBe(3);
    // The event leaves slot_shard out for shard 0 (its default), which a random borrow may pick.
    const created = (await eventsOf(run_id, t.key))[0] as { type: string; data: { holds_slot?: boolean; slot_shard?: number } };
    expect(created).toMatchObject({ type: "run.created", data: { holds_slot: true } });
    expect(created.data.slot_shard ?? 0).toBe(lender);
    // Its usage counts both shards asked.
    expect(await limiterRequests(run_id, t.key)).toBe(2);

    expect((await api(`/runs/${run_id}/cancel`, { method: "POST", key: t.key })).status).toBe(200);
    expect(await shardsHolding(t.tenant, run_id)).toEqual([]);
    expect((await slotsPerShard(t.tenant))[3]).toBe(full.length);
    expect(await limiterRequests(run_id, t.key)).toBe(3);
    await releaseAll(t.tenant, full);
  });

  it("at the cap, a refusal asks three shards and no more", async () => {
    const t = await tenant();
    const full = await fillCap(t.tenant, cap());
    let asked = 0;
    const r = await acquireSlot(env, t.tenant, `run_${uniq()}`, cap(), () => (asked += 1));
    expect(r).toEqual({ ok: false, in_flight: cap(), cap: cap() });
    expect(asked).toBe(3);
    await releaseAll(t.tenant, full);
  });

  it("a run refused while one shard still has room is admitted by a retry with the same key, which asks other shards", async () => {
    const t = await tenant();
    const { key, run_id } = await keyAskingFirst(t.tenant, 7);
    // One slot is left, on a shard other than its home: an attempt takes it only if it draws that
    // shard (2 in K - 1), so a key that always asked the same shards could be refused for good.
    const free = 12;
    const full = await fillCap(t.tenant, cap(), [free]);
    let refusals = 0;
    for (;;) {
      const res = await post(t.key, key);
      if (res.status === 201) break;
      expect(res.status).toBe(429);
      expect(await errorOf(res)).toMatchObject({ code: "too_many_runs_in_flight", details: { limit: cap() } });
      expect(await shardsHolding(t.tenant, run_id)).toEqual([]);
      // (13/15)^200: never, unless the shards asked are not drawn again.
      expect(++refusals).toBeLessThan(200);
    }
    expect(await shardsHolding(t.tenant, run_id)).toEqual([free]);
    expect((await eventsOf(run_id, t.key))[0]).toMatchObject({ data: { slot_shard: free } });
    await releaseAll(t.tenant, full);
  });

  it("a slot whose release was lost is freed by its shard once the run ended and the grace period passed", async () => {
    const t = await tenant();
    const a = await keyAskingFirst(t.tenant, 5);
    expect((await post(t.key, a.key)).status).toBe(201);
    expect(await shardsHolding(t.tenant, a.run_id)).toEqual([5]);
    // The give-back is lost (the RPC fails): the run ends, and its slot stays taken on shard 5.
    await runInDurableObject(shardStub(env, t.tenant, 5), (instance: TenantLimiter) => {
      const proto = Object.getPrototypeOf(instance) as TenantLimiter;
      const losing = Object.create(proto) as TenantLimiter;
      losing.release = async () => {
        throw new Error("release lost");
      };
      Object.setPrototypeOf(instance, losing);
    });
    expect((await api(`/runs/${a.run_id}/cancel`, { method: "POST", key: t.key })).status).toBe(200);
    expect(await shardsHolding(t.tenant, a.run_id)).toEqual([5]);

    // Every slot is taken (the lost one among them): a new run asking 5 first is refused.
    const full = await fillCap(t.tenant, cap(), [5]);
    const b = await keyAskingFirst(t.tenant, 5, "b");
    expect((await post(t.key, b.key)).status).toBe(429);
    // Within the grace period nobody is asked; past it, shard 5 asks the run objects and frees
    // the slots of runs that ended (a) or never existed (its placeholders).
    await runInDurableObject(shardStub(env, t.tenant, 5), (instance: TenantLimiter) => {
      instance.clock = () => Date.now() + 11_000;
    });
    expect((await post(t.key, b.key)).status).toBe(201);
    expect(await shardsHolding(t.tenant, a.run_id)).toEqual([]);
    expect(await shardsHolding(t.tenant, b.run_id)).toEqual([5]);
    expect((await slotsPerShard(t.tenant))[5]).toBe(1);
    await releaseAll(
      t.tenant,
      full.filter((p) => p.shard !== 5),
    );
  });

  it("a replay takes no second slot, and a resumed run takes one, records its shard and gives it back there", async () => {
    const t = await tenant();
    const { key, run_id } = await keyAskingFirst(t.tenant, 10);
    expect((await post(t.key, key)).status).toBe(201);
    expect((await post(t.key, key)).status).toBe(200);
    expect(await slotsPerShard(t.tenant)).toEqual(shardsOf(t.tenant).map((_s, i) => (i === 10 ? 1 : 0)));
    expect((await api(`/runs/${run_id}/cancel`, { method: "POST", key: t.key })).status).toBe(200);
    expect(await shardsHolding(t.tenant, run_id)).toEqual([]);

    // Its home is full now: the resume borrows from another shard, and the log says which.
    const full = await fillShard(t.tenant, 10);
    const resumed = await api(`/runs/${run_id}/resume`, { method: "POST", key: t.key });
    expect(resumed.status).toBe(200);
    expect(((await resumed.json()) as RunResource).status).not.toBe("cancelled");
    const [lender, ...more] = await shardsHolding(t.tenant, run_id);
    expect(more).toEqual([]);
    expect(lender).not.toBe(10);
    // The event leaves slot_shard out for shard 0 (its default), which a random borrow may pick.
    const event = (await eventsOf(run_id, t.key)).find((e) => e.type === "run.resumed") as { data: { slot_shard?: number } } | undefined;
    expect(event?.data.slot_shard ?? 0).toBe(lender);
    // Pausing and resuming a run in flight takes nothing more; a second resume is refused.
    expect((await api(`/runs/${run_id}/pause`, { method: "POST", key: t.key })).status).toBe(200);
    expect((await api(`/runs/${run_id}/resume`, { method: "POST", key: t.key })).status).toBe(200);
    expect((await api(`/runs/${run_id}/resume`, { method: "POST", key: t.key })).status).toBe(409);
    expect((await slotsPerShard(t.tenant)).reduce((a, b) => a + b, 0)).toBe(full.length + 1);

    expect((await api(`/runs/${run_id}/cancel`, { method: "POST", key: t.key })).status).toBe(200);
    expect(await shardsHolding(t.tenant, run_id)).toEqual([]);
    expect((await slotsPerShard(t.tenant))[10]).toBe(full.length);
    await releaseAll(t.tenant, full);
  });
});

describe("requests per limiter shard", () => {
  it("no shard sees more than 0.2 requests per run: a queued run makes two, both to its home shard, an inline run none", async () => {
    // A fixed tenant and fixed keys, so the runs' ids, and so their homes, are the same on every
    // test run: the spread measured is a fact of the hash over this sample, not a coin flip.
    const t = "rate-model";
    const key = (await newApiKey(t)).secret;
    const runs = 240;
    const homes = Array.from({ length: k() }, () => 0);
    // Four at a time: fewer in flight than any shard's share, so no run borrows (a run at the cap
    // asks up to three shards; see tenant-shards.ts).
    const lanes = 4;
    await Promise.all(
      Array.from({ length: lanes }, async (_l, lane) => {
        for (let i = lane; i < runs; i += lanes) {
          const res = await post(key, `r${i}`);
          expect(res.status).toBe(201);
          const { run_id } = (await res.json()) as RunResource;
          expect((await api(`/runs/${run_id}/cancel`, { method: "POST", key })).status).toBe(200);
          // Two requests: one acquire (granted by the first shard asked, its home) and one release.
          expect(await limiterRequests(run_id, key)).toBe(2);
          homes[probeOrder(run_id, cap(), k())[0]!]! += 1;
        }
      }),
    );
    // Every slot was given back, so each release reached the shard that held it: the home.
    expect(await slotsPerShard(t)).toEqual(homes.map(() => 0));
    const perShard = homes.map((n) => 2 * n);
    expect(perShard.reduce((a, b) => a + b, 0)).toBe(2 * runs);
    expect(Math.max(...perShard) / runs).toBeLessThanOrEqual(0.2);

    const inline = await post(key, "inline", { plan: { steps: [{ step_number: 1, tool: "Calculator.evaluate", input: { expression: "1 + 1" } }] } });
    expect(inline.status).toBe(201);
    expect((await limiterRequests(((await inline.json()) as RunResource).run_id, key)) ?? 0).toBe(0);
  }, 120_000);
});

describe("the webhook-events hint on the shards", () => {
  it("is set on every shard, so a run learns it from whichever shard it asks", async () => {
    const t = await tenant();
    const res = await api("/webhooks", { method: "POST", json: { url: `${inject("receiverUrl")}/hook/${uniq()}`, events: ["run.completed"] }, key: t.key });
    expect(res.status).toBe(201);
    for (const s of shardsOf(t.tenant)) expect(await s.webhookEvents()).toEqual(["run.completed"]);
    for (const home of [0, 6, k() - 1]) {
      const { key, run_id } = await keyAskingFirst(t.tenant, home);
      expect((await post(t.key, key)).status).toBe(201);
      expect(await shardsHolding(t.tenant, run_id)).toEqual([home]);
      expect((await eventsOf(run_id, t.key))[0]).toMatchObject({ type: "run.created", data: { webhook_events: ["run.completed"] } });
    }
    // A run that ends inside its create takes no slot and asks any one shard (through a cache).
    const inline = await post(t.key, "inline", { prompt: "calculate 6 * 7" });
    const run = (await inline.json()) as RunResource;
    expect((await eventsOf(run.run_id, t.key))[0]).toMatchObject({ type: "run.created", data: { holds_slot: false, webhook_events: ["run.completed"] } });
  });

  it("a shard never told (made when the shards were raised) copies shard 0's, the limiter of before", async () => {
    const t = `raised-${uniq()}`;
    // Subscriptions made before shards told only the one limiter, whose name shard 0 keeps.
    await env.TENANTS.getByName(t).setWebhookEvents(["run.failed"]);
    const r = await shardStub(env, t, 9).acquire(`run_${uniq()}`, 5, shardName(t, 0));
    expect(r).toMatchObject({ ok: true, webhook_events: ["run.failed"] });
    // Kept: later answers need no copy, and the outbox's next change reaches it like any shard.
    expect(await shardStub(env, t, 9).webhookEvents()).toEqual(["run.failed"]);
    await shardStub(env, t, 9).setWebhookEvents([]);
    expect(await shardStub(env, t, 9).webhookEvents(shardName(t, 0))).toEqual([]);
  });
});
