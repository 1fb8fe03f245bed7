// Wait.signal end to end in workerd: signals sent after and before the step waits (kept, then
// delivered), later signals left in the log, a timeout the watchdog applies, and the refusals.
import { describe, expect, it } from "vitest";
import type { RunEventData } from "../../src/durable/run/domain/events";
import { api, createRun, errorOf, getRun, newApiKey } from "../helpers";
import { advanceClock, events, sentMessages, watchdog } from "./harness";

const HOUR_S = 3600;
const waitFor = (step_number: number, name: string, depends_on: number[] = []) => ({
  step_number,
  tool: "Wait.signal",
  input: { name, timeout_seconds: HOUR_S },
  depends_on,
});

const send = (runId: string, name: string, json: unknown, key?: string) =>
  api(`/runs/${runId}/signals/${name}`, { method: "POST", json, ...(key ? { key } : {}) });

describe("Wait.signal", () => {
  it("takes a signal sent while it waits: the payload is its output; a later one is recorded and left", async () => {
    const run = await createRun({ plan: { steps: [waitFor(1, "payment")] } });
    expect(run).toMatchObject({ status: "waiting", execution_log: [{ status: "waiting" }] });
    expect(await sentMessages(run.run_id)).toEqual([]);
    const res = await send(run.run_id, "payment", { payload: { amount: 42, currency: "EUR" } });
    expect(res.status).toBe(202);
    const accepted = (await res.json()) as { seq: number; delivered_to: number | null };
    expect(accepted).toMatchObject({ run_id: run.run_id, name: "payment", delivered_to: 1 });
    const done = await getRun(run.run_id);
    expect(done).toMatchObject({ status: "completed", result: { amount: 42, currency: "EUR" } });
    const log = await events(run.run_id);
    expect(log.find((e) => e.type === "step.succeeded")!.data).toMatchObject({ step: 1, signal: accepted.seq });
    // The run has ended: a later signal is refused.
    const late = await send(run.run_id, "payment", { payload: 1 });
    expect(late.status).toBe(409);
    expect(await errorOf(late)).toMatchObject({ code: "run_finished" });
  });

  it("keeps a signal sent before the step waits and delivers it when it starts waiting", async () => {
    const run = await createRun({
      plan: {
        steps: [{ step_number: 1, tool: "Human.approve", input: { message: "go on?" } }, { ...waitFor(2, "ready", [1]) }],
      },
    });
    const early = await send(run.run_id, "ready", { payload: "first" });
    expect(early.status).toBe(202);
    expect(await early.json()).toMatchObject({ delivered_to: null });
    // A second signal of the same name is recorded, and left: the step takes only the first.
    expect(((await (await send(run.run_id, "ready", { payload: "second" })).json()) as { delivered_to: null }).delivered_to).toBeNull();
    expect((await getRun(run.run_id)).execution_log[1]!.status).toBe("pending");
    expect((await api(`/runs/${run.run_id}/steps/1/decision`, { method: "POST", json: { decision: "approve" } })).status).toBe(200);
    const done = await getRun(run.run_id);
    expect(done).toMatchObject({ status: "completed", result: "first" });
    const types = (await events(run.run_id)).map((e) => e.type);
    expect(types.filter((t) => t === "signal.received")).toHaveLength(2);
  });

  it("a signal without a payload delivers null; another name is not taken", async () => {
    const run = await createRun({ plan: { steps: [waitFor(1, "a")] } });
    expect(await (await send(run.run_id, "b", {})).json()).toMatchObject({ delivered_to: null });
    expect((await getRun(run.run_id)).status).toBe("waiting");
    expect(await (await send(run.run_id, "a", {})).json()).toMatchObject({ delivered_to: 1 });
    expect(await getRun(run.run_id)).toMatchObject({ status: "completed", result: null });
  });

  it("of signals sent at once, the waiting step takes exactly one; every one is recorded", async () => {
    const run = await createRun({ plan: { steps: [waitFor(1, "burst")] } });
    const answers = await Promise.all([1, 2, 3].map((n) => send(run.run_id, "burst", { payload: n })));
    const statuses = answers.map((r) => r.status);
    // The run ends with the first; signals after its end are refused.
    expect(statuses.filter((s) => s === 202).length).toBeGreaterThanOrEqual(1);
    expect(statuses.every((s) => s === 202 || s === 409)).toBe(true);
    const log = await events(run.run_id);
    const taken = log.filter((e) => e.type === "step.succeeded");
    expect(taken).toHaveLength(1);
    expect(log.filter((e) => e.type === "signal.received")).toHaveLength(statuses.filter((s) => s === 202).length);
    const first = log.find((e) => e.type === "signal.received")!.data as RunEventData["signal.received"];
    expect((await getRun(run.run_id)).result).toBe(first.payload);
  });

  it("fails with signal_timeout when none comes in time (the watchdog decides)", async () => {
    const run = await createRun({ plan: { steps: [waitFor(1, "never")] } });
    await advanceClock(run.run_id, HOUR_S * 1000 - 5_000);
    await watchdog(run.run_id);
    expect((await getRun(run.run_id)).status).toBe("waiting");
    await advanceClock(run.run_id, HOUR_S * 1000 + 1_000);
    await watchdog(run.run_id);
    expect(await getRun(run.run_id)).toMatchObject({ status: "failed", error: { code: "signal_timeout", step_number: 1 } });
  });

  it("refuses another tenant (404, as a missing run), a bad name (400) and a payload over 64 KiB (413)", async () => {
    const run = await createRun({ plan: { steps: [waitFor(1, "x")] } });
    const other = await newApiKey(`sig-${crypto.randomUUID().slice(0, 8)}`);
    const foreign = await send(run.run_id, "x", { payload: 1 }, other.secret);
    expect(foreign.status).toBe(404);
    expect(await errorOf(foreign)).toMatchObject({ code: "run_not_found" });
    expect((await send(`run_${"0".repeat(32)}`, "x", { payload: 1 })).status).toBe(404);
    const badName = await send(run.run_id, "no%20spaces", { payload: 1 });
    expect(badName.status).toBe(400);
    await errorOf(badName);
    expect((await send(run.run_id, "x", { payload: 1, extra: true })).status).toBe(400);
    expect((await send(run.run_id, "x", { payload: "y".repeat(70 * 1024) })).status).toBe(413);
    // None of these reached the run.
    expect((await events(run.run_id)).some((e) => e.type === "signal.received")).toBe(false);
    expect((await getRun(run.run_id)).status).toBe("waiting");
  });
});
