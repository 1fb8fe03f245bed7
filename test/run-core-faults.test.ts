// The run core's answers to issue 29's wrong outcomes, as decisions: a cancel that compensates
// does not wait out a timer, max_deferral_ms holds at the limit and not at the next transition,
// and a resumed parent keys its next child apart from the one that failed.
import { describe, expect, it } from "vitest";
import { childKey } from "../src/durable/run/domain/children";
import { cancel, resume } from "../src/durable/run/domain/control";
import { defer, fireDue, report } from "../src/durable/run/domain/decide";
import { stepError } from "../src/execution/step-error";
import { at, begin, options, type StepSpec } from "./decider-harness";

const add = (n: number, title: string, depends_on: number[] = []): StepSpec => ({ step_number: n, tool: "TodoStore.add", input: { title }, depends_on });
const sleep = (n: number, seconds: number, depends_on: number[] = []): StepSpec => ({ step_number: n, tool: "Wait.sleep", input: { seconds }, depends_on });
const get = (n: number): StepSpec => ({ step_number: n, tool: "Http.get", input: { url: "https://example.com/" } });
const unavailable = stepError("tool_unavailable", "Http.get is temporarily unavailable.");

describe("cancel with compensate", () => {
  it("ends a sleeping step at once, skipped, and starts undoing: a 7-day timer does not hold the cancel", () => {
    const { run } = begin([add(1, "milk"), sleep(2, 7 * 24 * 3600, [1])]);
    run.command(at(100), (m) => report(m, [{ step: 1, dispatch: run.step(1).dispatch_seq!, outcome: { success: true, output: { todo: { id: 7 } } } }]));
    expect(run.step(2).status).toBe("running");
    const out = run.command(at(200), (m) => cancel(m, "stop", true));
    const types = out.events.map((e) => e.type);
    expect(types).toContain("run.cancelling");
    expect(out.events.find((e) => e.type === "step.skipped")).toMatchObject({ data: { step: 2, reason: "cancelled" } });
    expect(types).toContain("compensation.started");
    expect(run.state.status).toBe("compensating");
    // The undo of step 1 is the only work left, and it went out at once.
    expect(out.sent.map((s) => s.tool)).toEqual(["TodoStore.delete"]);
  });

  it("still waits for a queued step in flight, whose consumer may be running the tool", () => {
    const { run } = begin([add(1, "milk")]);
    const out = run.command(at(100), (m) => cancel(m, "stop", true));
    expect(out.events.map((e) => e.type)).toEqual(["run.cancelling"]);
    expect(run.step(1).status).toBe("running");
  });
});

describe("max_deferral_ms", () => {
  it("schedules the retry at the limit when the breaker's transition is later", () => {
    const { run } = begin([get(1)], options({ max_deferral_ms: 8000 }));
    const out = run.command(at(1000), (m) => defer(m, 1, run.step(1).dispatch_seq!, at(26_000), unavailable));
    expect(out.events).toMatchObject([{ type: "step.deferred", data: { retry_at: at(9000) } }]);
  });

  it("fails the step with tool_unavailable at the limit instead of dispatching it again", () => {
    const { run } = begin([get(1)], options({ max_deferral_ms: 8000 }));
    run.command(at(1000), (m) => defer(m, 1, run.step(1).dispatch_seq!, at(26_000), unavailable));
    const out = run.command(at(9000), fireDue);
    expect(out.sent).toEqual([]);
    expect(out.events[0]).toMatchObject({ type: "step.failed", data: { step: 1, error: { code: "tool_unavailable" } } });
    expect(run.state.status).toBe("failed");
  });
});

describe("resuming a parent whose child failed", () => {
  it("keys the step's next child apart from the failed one, so a resume starts a new child", () => {
    const { run } = begin([{ step_number: 1, tool: "Run.start", input: { prompt: "calculate 1 + 1" } }], options({ on_failure: "stop" }));
    const before = childKey(run.state, run.step(1));
    run.command(at(100), (m) =>
      report(m, [{ step: 1, dispatch: run.step(1).dispatch_seq!, outcome: { success: false, error: stepError("child_failed", "no") } }]),
    );
    expect(run.state.status).toBe("failed");
    run.command(at(200), (m) => resume(m));
    expect(run.step(1).status).toBe("running");
    expect(childKey(run.state, run.step(1))).not.toBe(before);
  });
});
