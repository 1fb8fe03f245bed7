import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { TenantLimiter } from "../src/durable/tenant/tenant-limiter";

// The per-tenant cap's bookkeeping. A slot whose release was lost (a crash, a dropped RPC) must be
// freed later by asking the run objects, and that check, a request per slot, must not run on
// every refusal.

const limiter = () => env.TENANTS.getByName(`limiter-${crypto.randomUUID().slice(0, 8)}`);
const ghost = () => `run_${crypto.randomUUID().replaceAll("-", "")}`; // no run object holds a run here

async function setClock(stub: DurableObjectStub<TenantLimiter>, offsetMs: number) {
  await runInDurableObject(stub, (instance: TenantLimiter) => {
    instance.clock = () => Date.now() + offsetMs;
  });
}

async function addStaleSlot(stub: DurableObjectStub<TenantLimiter>, runId: string, ageMs: number) {
  await runInDurableObject(stub, (instance: TenantLimiter, state) => {
    state.storage.sql.exec("INSERT INTO slots (run_id, acquired_at) VALUES (?, ?)", runId, instance.clock() - ageMs);
  });
}

describe("TenantLimiter", () => {
  it("frees a slot whose release was lost, once it is older than the grace period", async () => {
    const l = limiter();
    const lost = ghost();
    expect(await l.acquire(lost, 1)).toMatchObject({ ok: true, held: false });
    // At the cap; the slot is young, so it is not questioned yet.
    expect(await l.acquire(ghost(), 1)).toMatchObject({ ok: false, in_flight: 1, cap: 1 });
    await setClock(l, 11_000);
    // Its run object holds no run: the slot is freed and the new run gets it.
    expect(await l.acquire(ghost(), 1)).toMatchObject({ ok: true, held: false, in_flight: 1 });
  });

  it("keeps a slot whose run is still in flight", async () => {
    const l = limiter();
    // A real run in flight: a timer that waits a minute.
    const runId = ghost();
    await env.RUNS.getByName(runId).create({
      run_id: runId,
      tenant: "limiter-test",
      prompt: null,
      plan: { plan_id: "plan_l", planner: "explicit", steps: [{ step_number: 1, tool: "Wait.sleep", input: { seconds: 60 }, depends_on: [], reasoning: "" }] },
      options: {},
      request_hash: "h",
      trace_id: "0af7651916cd43dd8448eb211c80319c",
      cap: 100,
    });
    await addStaleSlot(l, runId, 60_000);
    expect(await l.acquire(ghost(), 1)).toMatchObject({ ok: false, in_flight: 1 });
  });

  it("asks the run objects at most once per grace period, not on every refusal", async () => {
    const l = limiter();
    await addStaleSlot(l, ghost(), 60_000);
    // The first refusal at the cap reconciles: the stale slot is freed and this run admitted.
    expect(await l.acquire(ghost(), 1)).toMatchObject({ ok: true });
    // Another lost slot appears; within the grace period nobody asks again, so it still counts.
    await addStaleSlot(l, ghost(), 60_000);
    expect(await l.acquire(ghost(), 2)).toMatchObject({ ok: false, in_flight: 2 });
    await setClock(l, 11_000);
    expect(await l.acquire(ghost(), 2)).toMatchObject({ ok: true });
  });

  it("answers a run that already holds a slot with held: true and takes no second one", async () => {
    const l = limiter();
    const id = ghost();
    expect(await l.acquire(id, 5)).toMatchObject({ ok: true, held: false, in_flight: 1 });
    expect(await l.acquire(id, 5)).toMatchObject({ ok: true, held: true, in_flight: 1 });
    expect(await l.release(id)).toBeGreaterThan(0);
    expect(await l.acquire(ghost(), 1)).toMatchObject({ ok: true, in_flight: 1 });
  });
});
