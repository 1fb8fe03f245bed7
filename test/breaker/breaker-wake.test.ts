// A breaker tells the runs it turned away when it half-opens or closes: a close in batches of at
// most WAKE_BATCH, one per alarm, the settings' wake_interval_ms apart; a half-open only as many
// runs as it has free probes; each run once per transition, from a durable list that a crash does
// not lose. Real runs, a real queue and consumer, the real local upstream. The breaker project sets
// wake_interval_ms to an hour, so every batch after the first is run here, by runDurableObjectAlarm,
// after moving its due time to now (as a clock would): no test waits for time to pass.
import { env } from "cloudflare:workers";
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { beforeEach, describe, expect, inject, it, onTestFinished, vi } from "vitest";
import type { BreakerState } from "../../src/durable/breaker/breaker-state";
import { BACKSTOP_MS, WAKE_BATCH, breakerName, type ToolBreaker } from "../../src/durable/breaker/tool-breaker";
import type { WaitingList } from "../../src/durable/breaker/waiting-list";
import { startRun } from "../../src/durable/run/start-run";
import { api, getRun, uniq } from "../helpers";

const upstream = inject("upstreamUrl");
const tool = "Http.get";
const breaker = () => env.BREAKERS.getByName(breakerName("dev", tool));
const inside = (b: ToolBreaker) => b as unknown as { state: BreakerState; waiting: WaitingList };

/** The breaker's state as its storage has it (what an evicted or restarted object starts from). */
const stored = (stub = breaker()) =>
  runInDurableObject(
    stub,
    (_b: ToolBreaker, state) => JSON.parse(state.storage.sql.exec<{ state: string }>("SELECT state FROM breaker").one().state) as BreakerState,
  );

/** Opens the breaker (three failures) with a cooldown that outlasts the test: the test ends it. */
async function open(): Promise<void> {
  const stub = breaker();
  for (let i = 0; i < 3; i++) await stub.record(tool, { verdict: "dependency_failure", probe: false });
  expect((await stub.status(tool)).state).toBe("open");
  await runInDurableObject(stub, async (b: ToolBreaker, state) => {
    const s = inside(b).state;
    s.open_until = Date.now() + 3_600_000;
    await state.storage.setAlarm(s.open_until);
  });
}

/** Time passes for the breaker: the next batch is due now. Then its alarm runs. */
async function nextBatch(): Promise<void> {
  await runInDurableObject(breaker(), (b: ToolBreaker) => {
    const pass = inside(b).state.wake;
    if (pass) pass.next_at = Date.now();
  });
  await runDurableObjectAlarm(breaker());
}

/** `n` runs of one Http.get step each, started past the tenant's usual cap of runs in flight. */
async function startWaiting(n: number, url: string): Promise<string[]> {
  const roomy = { ...env, MAX_RUNS_IN_FLIGHT: "1000" };
  const ids = await Promise.all(
    Array.from({ length: n }, async () => {
      const options = { retry: { max_attempts: 1 } };
      const plan = { steps: [{ step_number: 1, tool, input: { url }, depends_on: [] }] };
      const r = await startRun(roomy, { tenant: "dev", body: { plan, options }, source: { plan }, options });
      if (!r.ok) throw new Error(JSON.stringify(r));
      return r.run.run_id;
    }),
  );
  await vi.waitFor(async () => expect((await breaker().status(tool)).waiting_runs).toBe(n), { timeout: 90_000, interval: 200 });
  return ids;
}

type Event = { type: string; data: { retry_at?: number }; at: string };
const eventsOf = async (runId: string) => ((await (await api(`/runs/${runId}/events?limit=1000`)).json()) as { events: Event[] }).events;
const count = (events: Event[], type: string) => events.filter((e) => e.type === type).length;
/** How many of the runs have been told of `type` (breaker.closed, breaker.half_opened), and at most once each. */
async function toldOf(ids: string[], type: string): Promise<number> {
  const told = (await Promise.all(ids.map(eventsOf))).map((events) => count(events, type));
  expect(Math.max(...told)).toBeLessThanOrEqual(1);
  return told.reduce((a, b) => a + b, 0);
}

async function allCompleted(ids: string[]): Promise<void> {
  for (const id of ids) await vi.waitFor(async () => expect((await getRun(id)).status).toBe("completed"), { timeout: 90_000, interval: 100 });
}

const waiting = async () => (await breaker().status(tool)).waiting_runs;

beforeEach(async () => {
  expect((await api("/breakers/Http.get/reset", { method: "POST" })).status).toBe(200);
  // No pass from an earlier test is still going: its later batches are run here.
  for (let i = 0; i < 200 && (await stored()).wake; i++) await nextBatch();
  expect((await stored()).wake ?? null).toBeNull();
});

describe("a breaker's waiting runs", () => {
  it("are told of a close WAKE_BATCH per alarm, not before the interval, each run once", { timeout: 240_000 }, async () => {
    await open();
    const ids = await startWaiting(250, `${upstream}/ok?k=${uniq()}`);
    expect((await api("/breakers/Http.get/reset", { method: "POST" })).status).toBe(200);
    // The close arms the alarm for now: the first batch goes at once (the runtime may run it first).
    await runDurableObjectAlarm(breaker());
    await vi.waitFor(async () => expect((await stored()).wake?.batches).toBe(1), { timeout: 30_000, interval: 20 });
    expect(await waiting()).toBe(250 - WAKE_BATCH);
    expect(await toldOf(ids, "breaker.closed")).toBe(WAKE_BATCH);

    // The alarm again, before the interval has passed: nobody more is told.
    await runDurableObjectAlarm(breaker());
    expect((await stored()).wake).toMatchObject({ batches: 1, woken: WAKE_BATCH });
    expect(await waiting()).toBe(250 - WAKE_BATCH);

    await nextBatch();
    expect(await waiting()).toBe(250 - 2 * WAKE_BATCH);
    expect(await toldOf(ids, "breaker.closed")).toBe(2 * WAKE_BATCH);
    await nextBatch();
    expect(await waiting()).toBe(0);
    const s = await stored();
    expect(s.wake ?? null).toBeNull();
    expect(s.last_wake).toMatchObject({ to: "closed", woken: 250, batches: 3, largest_batch: WAKE_BATCH });

    await allCompleted(ids);
    for (const id of ids) {
      const events = await eventsOf(id);
      expect(count(events, "breaker.closed"), id).toBe(1);
      expect(count(events, "step.deferred"), id).toBe(1);
    }
  });

  it("are told of a half-open one per free probe, and nobody is told again while the probe is out", { timeout: 240_000 }, async () => {
    await open();
    // Calls that hang until the test opens the gate: the probe stays out for as long as the test needs.
    const gate = uniq();
    // Whatever happens, the gate opens at the end: no call of this test hangs into the next one.
    onTestFinished(async () => void (await fetch(`${upstream}/open/${gate}`)));
    const ids = await startWaiting(5, `${upstream}/gate/${gate}`);
    expect(await runDurableObjectAlarm(breaker())).toBe(true); // the cooldown ends: half-open
    expect((await breaker().status(tool)).state).toBe("half_open");
    // One run is told, and it takes the probe.
    await vi.waitFor(async () => expect(await runInDurableObject(breaker(), (b: ToolBreaker) => inside(b).state.probes_in_flight)).toBe(1), {
      timeout: 30_000,
      interval: 20,
    });
    expect(await waiting()).toBe(4);
    expect(await toldOf(ids, "breaker.half_opened")).toBe(1);

    // However long the probe takes, the others are not told of the half-open again, and they do not
    // come back by themselves every second: their own retry is a late backstop.
    for (let i = 0; i < 3; i++) await nextBatch();
    expect((await stored()).wake).toMatchObject({ to: "half_open", woken: 1, batches: 1 });
    expect(await waiting()).toBe(4);
    expect(await toldOf(ids, "breaker.half_opened")).toBe(1);
    for (const id of ids) {
      const deferred = (await eventsOf(id)).filter((e) => e.type === "step.deferred");
      expect(deferred, id).toHaveLength(1);
      expect(deferred[0]!.data.retry_at! - Date.parse(deferred[0]!.at)).toBeGreaterThanOrEqual(BACKSTOP_MS);
    }

    // The probe succeeds: closed, and the four are told (one batch, at once).
    expect((await fetch(`${upstream}/open/${gate}`)).status).toBe(200);
    await allCompleted(ids);
    expect(await toldOf(ids, "breaker.half_opened")).toBe(1);
    expect(await toldOf(ids, "breaker.closed")).toBe(4);
  });

  it("are all told, once, after the object is aborted between two batches", { timeout: 240_000 }, async () => {
    await open();
    const ids = await startWaiting(150, `${upstream}/ok?k=${uniq()}`);
    expect((await api("/breakers/Http.get/reset", { method: "POST" })).status).toBe(200);
    await vi.waitFor(async () => expect((await stored()).wake?.batches).toBe(1), { timeout: 30_000, interval: 20 });
    // The object dies: memory is gone; the list, the pass and the alarm are on disk.
    await runInDurableObject(breaker(), (_b: ToolBreaker, state) => state.abort("test: crash between batches")).catch(() => undefined);
    expect(await waiting()).toBe(150 - WAKE_BATCH);

    await nextBatch();
    expect(await waiting()).toBe(0);
    expect((await stored()).last_wake).toMatchObject({ to: "closed", woken: 150, batches: 2 });
    await allCompleted(ids);
    for (const id of ids) expect(count(await eventsOf(id), "breaker.closed"), id).toBe(1);
  });
});

describe("a half-open breaker's free probe", () => {
  it("goes to the next waiting run when the one told never comes, or when the probe never reports", async () => {
    // Runs that do not exist: told, they do nothing (as a run cancelled meanwhile would).
    const stub = env.BREAKERS.getByName(breakerName(`probe-${uniq()}`, tool));
    for (let i = 0; i < 3; i++) await stub.record(tool, { verdict: "dependency_failure", probe: false });
    for (const id of ["run_w1", "run_w2"]) expect((await stub.admit(tool, id)).allowed).toBe(false);
    expect(await runDurableObjectAlarm(stub)).toBe(true); // half-open: run_w1 is told
    expect((await stub.status(tool)).waiting_runs).toBe(1);
    // It never takes the probe. Later, the next run is told.
    const later = async (field: "next_at" | "probe_at", by: number) =>
      runInDurableObject(stub, (b: ToolBreaker) => {
        const s = inside(b).state;
        if (field === "next_at" && s.wake) s.wake.next_at -= by;
        if (field === "probe_at" && s.probe_at !== null) s.probe_at -= by;
      });
    await later("next_at", 3_600_000);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect((await stub.status(tool)).waiting_runs).toBe(0);

    // A probe taken by a consumer that then dies: a minute on, the slot is free and the waiting run is told.
    expect(await stub.admit(tool, "run_probe")).toMatchObject({ allowed: true, probe: true });
    expect((await stub.admit(tool, "run_w3")).allowed).toBe(false);
    expect(await runDurableObjectAlarm(stub)).toBe(true); // before the expiry: nothing
    expect((await stub.status(tool)).waiting_runs).toBe(1);
    await later("probe_at", 61_000);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect((await stub.status(tool)).waiting_runs).toBe(0);
  });
});

describe("the wait list", () => {
  it("keeps a run turned away again while the batch that told it is out", async () => {
    const stub = env.BREAKERS.getByName(breakerName(`list-${uniq()}`, tool));
    await stub.status(tool);
    await runInDurableObject(stub, (b: ToolBreaker) => {
      const list = inside(b).waiting;
      expect(list.remember("run_a")).toBe(true);
      const batch = list.next(list.last(), WAKE_BATCH);
      // Told, it comes back before the batch is crossed off, and is turned away again (half-open).
      expect(list.remember("run_a")).toBe(true);
      list.settle(batch, []);
      expect(list.count()).toBe(1);
      expect(list.next(batch[0]!.seq, WAKE_BATCH)).toEqual([]); // not this transition's any more: the next one's
    });
  });
});

describe("a refused run's own retry time", () => {
  it("is a late backstop when the breaker remembered it, and near when it could not", async () => {
    const stub = env.BREAKERS.getByName(breakerName(`wake-${uniq()}`, tool));
    for (let i = 0; i < 3; i++) await stub.record(tool, { verdict: "dependency_failure", probe: false });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await stub.admit(tool, "run_probe")).toMatchObject({ allowed: true, probe: true });
    const now = Date.now();
    const remembered = await stub.admit(tool, "run_waiting");
    expect(remembered.allowed).toBe(false);
    if (!remembered.allowed) expect(remembered.retry_at).toBeGreaterThanOrEqual(now + BACKSTOP_MS);
    // Not remembered (no run to tell): it must look again soon, as before.
    const anonymous = await stub.admit(tool);
    if (!anonymous.allowed) expect(anonymous.retry_at).toBeLessThanOrEqual(Date.now() + 1000);
    expect(anonymous.allowed).toBe(false);
  });
});

describe("a breaker made before the wait list had sequence numbers", () => {
  it("moves its old waiters over when it starts", async () => {
    const name = breakerName(`old-${uniq()}`, tool);
    await runInDurableObject(env.BREAKERS.getByName(name), (_b: ToolBreaker, state) => {
      state.storage.sql.exec("DROP TABLE wait_list");
      state.storage.sql.exec("CREATE TABLE waiters (run_id TEXT PRIMARY KEY)");
      state.storage.sql.exec("INSERT INTO waiters (run_id) VALUES ('run_a'), ('run_b')");
    });
    await runInDurableObject(env.BREAKERS.getByName(name), (_b: ToolBreaker, state) => state.abort("test: restart")).catch(() => undefined);
    expect((await env.BREAKERS.getByName(name).status(tool)).waiting_runs).toBe(2);
  });
});
