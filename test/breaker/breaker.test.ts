import { env } from "cloudflare:workers";
import { evictDurableObject, runDurableObjectAlarm } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, inject, it } from "vitest";
import { breakerName, type BreakerStatus } from "../../src/durable/breaker/tool-breaker";
import { admit } from "../../src/queues/breaker-gate";
import { api, createRun, errorOf, settleRuns, uniq, waitForRun } from "../helpers";

// This project's breakers trip after 3 failures and cool down for 5 s, doubling up to 12 s.
const upstream = inject("upstreamUrl");
const breaker = () => env.BREAKERS.getByName(breakerName("dev", "Http.get"));
const hits = async (path: string) => ((await (await fetch(`${upstream}/hits${path}`)).json()) as { hits: number }).hits;

async function httpStatus(): Promise<BreakerStatus> {
  const res = await api("/breakers");
  expect(res.status).toBe(200);
  const body = (await res.json()) as { breakers: BreakerStatus[] };
  return body.breakers.find((b) => b.tool === "Http.get")!;
}

/** One run of one Http.get step, no retries. */
const fetchRun = (url: string) =>
  createRun({ plan: { steps: [{ step_number: 1, tool: "Http.get", input: { url } }] }, options: { retry: { max_attempts: 1 } } });

async function trip(): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    const run = await fetchRun(`${upstream}/status/503?k=${uniq()}`);
    ids.push((await waitForRun(run.run_id)).run_id);
  }
  return ids;
}

const eventTypes = async (runId: string) => ((await (await api(`/runs/${runId}/events`)).json()) as { events: { type: string; data: unknown }[] }).events;

// A run left waiting by one test is cancelled before the next test's reset would tell it: run
// then, its success would be handed to the breaker mid-trip and reset the next test's failure count.
afterEach(settleRuns, 20_000);

beforeEach(async () => {
  expect((await api("/breakers/Http.get/reset", { method: "POST" })).status).toBe(200);
});

describe("the Http.get circuit breaker, against a real failing upstream", () => {
  it("opens at the failure threshold and records it in the run that tripped it", async () => {
    const [first, , third] = await trip();
    const status = await httpStatus();
    expect(status).toMatchObject({ state: "open", trips: 1, cooldown_ms: 5000 });
    expect(Date.parse(status.next_transition_at!)).toBeGreaterThan(Date.now());
    expect((await eventTypes(third!)).map((e) => e.type)).toContain("breaker.opened");
    expect((await eventTypes(first!)).map((e) => e.type)).not.toContain("breaker.opened");
  });

  it("fails fast while open: the step waits without calling the upstream or using an attempt", async () => {
    await trip();
    const key = `/flaky/while-open-${uniq()}`;
    const run = await fetchRun(`${upstream}${key}?fail=0`);
    const waiting = await waitForRun(run.run_id, (r) => r.execution_log[0]!.error?.code === "tool_unavailable");
    expect(waiting.status).toBe("running");
    expect(waiting.execution_log[0]).toMatchObject({ status: "pending", attempts: 0 });
    expect(waiting.execution_log[0]!.error!.message).toMatch(/Http\.get is temporarily unavailable; retrying after/);
    expect(await hits(key)).toBe(0);
    expect((await httpStatus()).waiting_runs).toBeGreaterThanOrEqual(1);
  });

  it("half-opens on its alarm, closes after a good probe, and the waiting run then succeeds", async () => {
    await trip();
    const key = `/flaky/recovered-${uniq()}`;
    const run = await fetchRun(`${upstream}${key}?fail=0`);
    await waitForRun(run.run_id, (r) => r.execution_log[0]!.error?.code === "tool_unavailable");
    expect(await runDurableObjectAlarm(breaker())).toBe(true); // the cooldown ends
    const done = await waitForRun(run.run_id);
    expect(done.status).toBe("completed");
    expect(done.execution_log[0]).toMatchObject({ status: "succeeded", attempts: 1 });
    expect(await hits(key)).toBe(1);
    const types = (await eventTypes(run.run_id)).map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(["step.deferred", "breaker.half_opened", "run.completed"]));
    expect(await httpStatus()).toMatchObject({ state: "closed", cooldown_ms: 5000 });
  });

  it("reopens with a doubled cooldown after a bad probe, capped at the maximum", async () => {
    await trip();
    const cooldowns: number[] = [];
    for (let i = 0; i < 2; i++) {
      await runDurableObjectAlarm(breaker());
      expect((await httpStatus()).state).toBe("half_open");
      const probe = await fetchRun(`${upstream}/status/500?k=${uniq()}`);
      await waitForRun(probe.run_id);
      const status = await httpStatus();
      expect(status.state).toBe("open");
      cooldowns.push(status.cooldown_ms);
    }
    expect(cooldowns).toEqual([10_000, 12_000]);
  });

  it("keeps its cooldown alarm across eviction", async () => {
    await trip();
    await evictDurableObject(breaker()).catch(() => undefined); // not running is fine too
    expect(await runDurableObjectAlarm(breaker())).toBe(true);
    expect((await httpStatus()).state).toBe("half_open");
  });

  it("is not tripped by bad input or 4xx answers", async () => {
    const tripsBefore = (await httpStatus()).trips;
    for (let i = 0; i < 4; i++) await waitForRun((await fetchRun(`${upstream}/status/404?k=${uniq()}`)).run_id);
    for (let i = 0; i < 4; i++) await waitForRun((await fetchRun(`http://example.invalid/${uniq()}`)).run_id);
    const status = await httpStatus();
    expect(status).toMatchObject({ state: "closed", consecutive_failures: 0, trips: tripsBefore });
  });

  it("is closed by hand with POST /breakers/{tool}/reset", async () => {
    await trip();
    const res = await api("/breakers/Http.get/reset", { method: "POST" });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ tool: "Http.get", state: "closed", consecutive_failures: 0 });
    const run = await fetchRun(`${upstream}/ok?k=${uniq()}`);
    expect((await waitForRun(run.run_id)).status).toBe("completed");
  });

  it("answers 404 for a tool without a breaker", async () => {
    const res = await api("/breakers/Nope.tool/reset", { method: "POST" });
    expect(res.status).toBe(404);
    expect((await errorOf(res)).code).toBe("breaker_not_found");
  });

  it("lists every queue tool's breaker", async () => {
    const body = (await (await api("/breakers")).json()) as { enabled: boolean; breakers: BreakerStatus[] };
    expect(body.enabled).toBe(true);
    expect(body.breakers.map((b) => b.tool)).toContain("TodoStore.add");
    expect(body.breakers.map((b) => b.tool)).not.toContain("Wait.sleep");
    for (const b of body.breakers) expect(b).toHaveProperty("settings.failure_threshold");
  });
});

describe("the consumer's gate", () => {
  const tool = "Http.get";
  const freshBreaker = () => {
    const tenant = `gate-${uniq()}`;
    return { tenant, stub: env.BREAKERS.getByName(breakerName(tenant, tool)) };
  };

  it("asks a breaker once for steps that start together while it is closed", async () => {
    const { tenant, stub } = freshBreaker();
    const gates = await Promise.all(Array.from({ length: 8 }, (_, i) => admit(env, tenant, tool, `run_${i}`)));
    expect(gates).toEqual(Array.from({ length: 8 }, () => ({ allowed: true, probe: false })));
    // One admit for the eight, and this status request (every RPC is a billed request, counted).
    expect((await stub.status(tool)).requests).toBe(2);
  });

  it("shares no half-open answer: of steps that start together, exactly one is the probe", async () => {
    const { tenant, stub } = freshBreaker();
    for (let i = 0; i < 3; i++) await stub.record(tool, { verdict: "dependency_failure", probe: false });
    expect((await stub.status(tool)).state).toBe("open");
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect((await stub.status(tool)).state).toBe("half_open");
    const gates = await Promise.all(Array.from({ length: 8 }, (_, i) => admit(env, tenant, tool, `run_${i}`)));
    expect(gates.filter((g) => g.allowed)).toEqual([{ allowed: true, probe: true }]);
    expect(gates.filter((g) => !g.allowed)).toHaveLength(7);
  });
});
