// Pause and resume as decisions: a paused run dispatches nothing new; what is in flight, timers and
// approvals are recorded as they end; due retries wait without waking the watchdog in a loop; the
// resume sets going what they freed. Driven without a Durable Object, with the test's clock.
import { describe, expect, it } from "vitest";
import { fireDue, nextDeadline, report } from "../src/durable/run/domain/decide";
import { decideApproval } from "../src/durable/run/domain/human-input";
import { cancel, pause, resume } from "../src/durable/run/domain/control";
import { runView } from "../src/durable/run/run-view";
import { stepError } from "../src/execution/step-error";
import type { Outcome } from "../src/execution/step-protocol";
import { at, begin, options, type Run, type StepSpec } from "./decider-harness";

const get = (step_number: number, depends_on: number[] = []): StepSpec => ({
  step_number,
  tool: "Http.get",
  input: { url: `https://example.com/${step_number}` },
  depends_on,
});
const ok = (output: unknown): Outcome => ({ success: true, output: output as never });
const dispatchOf = (run: Run, step: number) => run.log.filter((e) => e.type === "step.started" && (e.data as { step: number }).step === step).at(-1)!.seq;
const reportAt = (run: Run, now: number, step: number, outcome: Outcome) =>
  run.command(now, (m) => report(m, [{ step, dispatch: dispatchOf(run, step), outcome }]));
const types = (events: { type: string }[]) => events.map((e) => e.type);

describe("pause", () => {
  it("records a step that finishes in flight, starts nothing after it, and the resume starts it", () => {
    const { run } = begin([get(1), get(2, [1]), { step_number: 3, tool: "Calculator.evaluate", input: { expression: "1 + 1" }, depends_on: [1] }]);
    const paused = run.command(at(100), (m) => pause(m, "hold on"));
    expect(paused.events.map((e) => [e.type, e.data])).toEqual([["run.paused", { reason: "hold on" }]]);
    expect(run.state.status).toBe("paused");
    const done = reportAt(run, at(200), 1, ok({ status: 200 }));
    expect(types(done.events)).toEqual(["step.succeeded"]);
    expect(done.sent).toEqual([]);
    expect(runView(run.state).status).toBe("paused");
    // Pausing again changes nothing.
    expect(run.command(at(250), (m) => pause(m, "again")).events).toEqual([]);
    const resumed = run.command(at(300), resume);
    expect(types(resumed.events)).toEqual(["run.unpaused", "step.started", "step.started", "step.succeeded"]);
    expect(resumed.sent).toEqual([expect.objectContaining({ step: 2 })]);
    expect(run.state.status).toBe("running");
  });

  it("keeps a retry's time: it is not sent while paused, the watchdog does not spin on it, and the resume sends it", () => {
    const { run } = begin([get(1)], options({ retry: { max_attempts: 3 } }));
    run.command(at(50), (m) => pause(m, "x"));
    reportAt(run, at(100), 1, { success: false, error: stepError("upstream_error", "502") });
    const retryAt = run.step(1).retry_at!;
    const due = run.command(retryAt, fireDue);
    expect(due.sent).toEqual([]);
    // Due and unsent: the next deadline is not that retry (else the alarm would fire again at once).
    expect(nextDeadline(run.state, retryAt + 1)).not.toBe(retryAt);
    expect(run.command(retryAt + 10, resume).sent).toEqual([expect.objectContaining({ step: 1, attempt: 2 })]);
  });

  it("lets a timer end and an approval be decided while paused; what they free waits for the resume", () => {
    const { run } = begin([
      { step_number: 1, tool: "Wait.sleep", input: { seconds: 1 } },
      { step_number: 2, tool: "Human.approve", input: { message: "go?" } },
      get(3, [1, 2]),
    ]);
    run.command(at(10), (m) => pause(m, "x"));
    expect(types(run.command(at(1000), fireDue).events)).toEqual(["step.succeeded"]);
    const decided = run.command(at(1100), (m) => decideApproval(m, 2, { decision: "approve", comment: null, by: "key_1" }));
    expect(decided.result).toEqual({ ok: true });
    expect(decided.sent).toEqual([]);
    expect(run.state.status).toBe("paused");
    expect(run.command(at(1200), resume).sent).toEqual([expect.objectContaining({ step: 3 })]);
  });

  it("does not end or compensate a paused run whose step failed until the resume", () => {
    const { run } = begin([{ step_number: 1, tool: "TodoStore.add", input: { title: "a" } }, get(2)], options({ retry: { max_attempts: 1 } }));
    reportAt(run, at(100), 1, ok({ todo: { id: 4 } }));
    run.command(at(150), (m) => pause(m, "x"));
    expect(types(reportAt(run, at(200), 2, { success: false, error: stepError("upstream_rejected", "404") }).events)).toEqual(["step.failed"]);
    expect(run.state.status).toBe("paused");
    const resumed = run.command(at(300), resume);
    expect(types(resumed.events)).toEqual(["run.unpaused", "compensation.started", "compensation.step_started"]);
  });

  it("refuses a run that ended or is compensating (409), and a cancel ends a paused run", () => {
    const { run } = begin([get(1)]);
    run.command(at(10), (m) => pause(m, "x"));
    expect(types(run.command(at(20), (m) => cancel(m, "stop")).events)).toEqual(["step.skipped", "run.cancelled"]);
    expect(run.command(at(30), (m) => pause(m, "x")).result).toMatchObject({ ok: false, code: "run_finished" });
  });

  it("a cancel with compensate moves a paused run again so it can undo and end", () => {
    const { run } = begin([{ step_number: 1, tool: "TodoStore.add", input: { title: "a" } }, get(2, [1])]);
    reportAt(run, at(100), 1, ok({ todo: { id: 4 } }));
    run.command(at(110), (m) => pause(m, "x"));
    const c = run.command(at(120), (m) => cancel(m, "stop", true));
    expect(types(c.events)).toEqual(["run.unpaused", "run.cancelling"]);
  });
});
