// Saga compensation as decisions (src/durable/run/compensation.ts through the decider): what is
// undone, in which order, with which keys, how undos retry, fail for good, expire and time out,
// and how cancel-with-compensate and resume meet it. Driven without a Durable Object, with the
// test's clock; the workerd tests in test/held/compensation.test.ts run the same against real
// todos and the real queue handler.
import { describe, expect, it } from "vitest";
import { defer, fireDue, preflight, report, skipCancelled } from "../src/durable/run/domain/decide";
import { cancel, resume } from "../src/durable/run/domain/control";
import type { RunEventType } from "../src/durable/run/domain/events";
import { runView } from "../src/durable/run/run-view";
import { stepError } from "../src/execution/step-error";
import type { Outcome } from "../src/execution/step-protocol";
import { at, begin, LEASE, options, RESEND, RUN_TIMEOUT, type Run, type StepSpec } from "./decider-harness";

const add = (step_number: number, title: string, more: Partial<StepSpec> = {}): StepSpec => ({ step_number, tool: "TodoStore.add", input: { title }, ...more });
const get = (step_number: number, url: string, depends_on: number[] = []): StepSpec => ({ step_number, tool: "Http.get", input: { url }, depends_on });
const ok = (output: unknown): Outcome => ({ success: true, output: output as never });
const retryable: Outcome = { success: false, error: stepError("upstream_error", "The upstream answered 502.") };
const permanent: Outcome = { success: false, error: stepError("upstream_rejected", "The upstream answered 404.") };
const todo = (id: number) => ok({ todo: { id, title: `t${id}`, status: "open" } });

/** The seq of the event that dispatched `step` (its latest step.started or compensation.step_started). */
function dispatchOf(run: Run, step: number, type: RunEventType = "step.started"): number {
  const e = run.log.filter((x) => x.type === type && (x.data as { step: number }).step === step).at(-1);
  if (!e) throw new Error(`no ${type} for step ${step}`);
  return e.seq;
}
const reportAt = (run: Run, now: number, step: number, outcome: Outcome, type: RunEventType = "step.started") =>
  run.command(now, (m) => report(m, [{ step, dispatch: dispatchOf(run, step, type), outcome }]));
const undoAt = (run: Run, now: number, step: number, outcome: Outcome) => reportAt(run, now, step, outcome, "compensation.step_started");
const types = (events: { type: string }[]) => events.map((e) => e.type);

/** Steps 1 and 2 add todos (2 after 1), step 3 fetches after 2: the fetch is what fails. */
function twoAddsThenFetch(runOptions = options({ retry: { max_attempts: 1 } })) {
  const { run } = begin([add(1, "first"), add(2, "second", { depends_on: [1] }), get(3, "https://example.com/x", [2])], runOptions);
  reportAt(run, at(100), 1, todo(11));
  reportAt(run, at(200), 2, todo(12));
  return run;
}

describe("a run that fails after steps with effects", () => {
  it("undoes them newest first, one at a time, then fails with the step's error", () => {
    const run = twoAddsThenFetch();
    const failed = reportAt(run, at(300), 3, permanent);
    expect(types(failed.events)).toEqual(["step.failed", "compensation.started", "compensation.step_started"]);
    expect(failed.events[1]!.data).toEqual({
      reason: "run_failed",
      error: { code: "upstream_rejected", message: "Step 3 (Http.get) failed: The upstream answered 404.", step_number: 3 },
      steps: [
        { step: 2, tool: "TodoStore.delete", input: { id: "{{steps.2.output.todo.id}}" } },
        { step: 1, tool: "TodoStore.delete", input: { id: "{{steps.1.output.todo.id}}" } },
      ],
    });
    expect(run.state.status).toBe("compensating");
    // One undo at a time: only step 2's is sent, with its input resolved and a key of its own.
    expect(failed.sent).toEqual([expect.objectContaining({ step: 2, tool: "TodoStore.delete", input: { id: 12 }, idempotency_key: "run_test:2:undo" })]);

    const second = undoAt(run, at(400), 2, ok({ deleted: { id: 12 } }));
    expect(types(second.events)).toEqual(["step.compensated", "compensation.step_started"]);
    expect(second.sent).toEqual([expect.objectContaining({ step: 1, input: { id: 11 }, idempotency_key: "run_test:1:undo" })]);

    const last = undoAt(run, at(500), 1, ok({ deleted: { id: 11 } }));
    expect(types(last.events)).toEqual(["step.compensated", "compensation.completed", "run.failed"]);
    expect(last.events[2]!.data).toEqual({ error: expect.objectContaining({ code: "upstream_rejected", step_number: 3 }) });
    const view = runView(run.state);
    expect(view.status).toBe("failed");
    expect(view.compensation).toMatchObject({ status: "completed", reason: "run_failed", error: null });
    expect(view.compensation!.steps.map((u) => [u.step_number, u.status, u.input])).toEqual([
      [2, "succeeded", { id: 12 }],
      [1, "succeeded", { id: 11 }],
    ]);
    expect(view.execution_log[0]!.compensate).toEqual({ tool: "TodoStore.delete", input: { id: "{{steps.1.output.todo.id}}" } });
    expect(view.execution_log[2]!.compensate).toBeNull();
  });

  it("undoes in reverse order of completion, not of step number", () => {
    const { run } = begin([add(1, "a"), add(2, "b"), get(3, "https://example.com/x", [1, 2])], options({ retry: { max_attempts: 1 } }));
    reportAt(run, at(100), 2, todo(22));
    reportAt(run, at(200), 1, todo(21));
    const failed = reportAt(run, at(300), 3, permanent);
    expect((failed.events[1]!.data as { steps: { step: number }[] }).steps.map((s) => s.step)).toEqual([1, 2]);
  });

  it("undoes only steps that succeeded: a failed, a skipped or an opted-out step is left alone", () => {
    const { run } = begin(
      [add(1, "kept", { compensate: null }), add(2, "undone"), add(3, "fails"), add(4, "never runs", { depends_on: [3] })],
      options({ retry: { max_attempts: 1 } }),
    );
    reportAt(run, at(100), 1, todo(1));
    reportAt(run, at(110), 2, todo(2));
    const failed = reportAt(run, at(120), 3, permanent);
    expect(run.step(4).status).toBe("skipped");
    expect((failed.events.find((e) => e.type === "compensation.started")!.data as { steps: { step: number }[] }).steps.map((s) => s.step)).toEqual([2]);
  });

  it("with on_failure 'stop' ends failed at once, undoing nothing", () => {
    const run = twoAddsThenFetch(options({ retry: { max_attempts: 1 }, on_failure: "stop" }));
    const failed = reportAt(run, at(300), 3, permanent);
    expect(types(failed.events)).toEqual(["step.failed", "run.failed"]);
    expect(runView(run.state).compensation).toBeNull();
  });

  it("fails at once when nothing has a compensation", () => {
    const { run } = begin([get(1, "https://example.com/a"), get(2, "https://example.com/b", [1])], options({ retry: { max_attempts: 1 } }));
    reportAt(run, at(100), 1, ok({ status: 200 }));
    expect(types(reportAt(run, at(200), 2, permanent).events)).toEqual(["step.failed", "run.failed"]);
  });

  it("uses the plan's compensation, its references resolved against the step's own output and the ones it depended on", () => {
    const { run } = begin(
      [
        get(1, "https://example.com/a"),
        {
          ...add(2, "x", { depends_on: [1] }),
          compensate: { tool: "Http.get", input: { url: "https://example.com/undo/{{steps.2.output.todo.id}}/{{steps.1.output.status}}" } },
        },
        get(3, "https://example.com/b", [2]),
      ],
      options({ retry: { max_attempts: 1 } }),
    );
    reportAt(run, at(100), 1, ok({ status: 200 }));
    reportAt(run, at(200), 2, todo(5));
    const failed = reportAt(run, at(300), 3, permanent);
    expect(failed.sent).toEqual([expect.objectContaining({ tool: "Http.get", input: { url: "https://example.com/undo/5/200" } })]);
  });

  it("runs an inline compensation inside the command that starts it", () => {
    const { run } = begin(
      [
        { ...add(1, "x"), compensate: { tool: "Calculator.evaluate", input: { expression: "{{steps.1.output.todo.id}} * 2" } } },
        get(2, "https://example.com/b", [1]),
      ],
      options({ retry: { max_attempts: 1 } }),
    );
    reportAt(run, at(100), 1, todo(21));
    const failed = reportAt(run, at(200), 2, permanent);
    expect(types(failed.events)).toEqual([
      "step.failed",
      "compensation.started",
      "compensation.step_started",
      "step.compensated",
      "compensation.completed",
      "run.failed",
    ]);
    expect(failed.events[3]!.data).toMatchObject({ output: 42 });
    expect(failed.sent).toEqual([]);
  });

  it("undoes a completed todo by reopening it (TodoStore.complete's default)", () => {
    const { run } = begin(
      [{ step_number: 1, tool: "TodoStore.complete", input: { title: "x" } }, get(2, "https://example.com/b", [1])],
      options({ retry: { max_attempts: 1 } }),
    );
    reportAt(run, at(100), 1, todo(8));
    const failed = reportAt(run, at(200), 2, permanent);
    expect(failed.sent).toEqual([expect.objectContaining({ tool: "TodoStore.reopen", input: { id: 8 } })]);
  });
});

describe("an undo that fails", () => {
  it("is retried by the run's retry policy and can then succeed", () => {
    const run = twoAddsThenFetch(options({ retry: { max_attempts: 3 } }));
    // Step 3 fails for good on a non-retryable error; the undos have three attempts each.
    reportAt(run, at(300), 3, permanent);
    const first = undoAt(run, at(400), 2, retryable);
    expect(first.events).toEqual([
      expect.objectContaining({ type: "step.compensation_failed", data: expect.objectContaining({ attempt: 1, retry_at: at(900) }) }),
    ]);
    expect(run.state.compensation!.steps[0]!.status).toBe("pending");
    // Not before its time; then a second attempt under the same key.
    expect(run.command(at(800), fireDue).sent).toEqual([]);
    const again = run.command(at(900), fireDue);
    expect(again.sent).toEqual([expect.objectContaining({ step: 2, attempt: 2, idempotency_key: "run_test:2:undo" })]);
    undoAt(run, at(950), 2, ok({ deleted: { id: 12 } }));
    const done = undoAt(run, at(1000), 1, ok({ deleted: { id: 11 } }));
    expect(types(done.events)).toEqual(["step.compensated", "compensation.completed", "run.failed"]);
    expect(runView(run.state).compensation!.steps[0]!.attempts).toBe(2);
  });

  it("fails for good on a non-retryable error; the others are still undone and the run ends failed with a clear error", () => {
    const run = twoAddsThenFetch();
    reportAt(run, at(300), 3, permanent);
    const bad = undoAt(run, at(400), 2, { success: false, error: stepError("todo_not_found", "Todo 12 was already deleted.") });
    expect(types(bad.events)).toEqual(["step.compensation_failed", "compensation.step_started"]);
    expect(bad.events[0]!.data).not.toHaveProperty("retry_at");
    const end = undoAt(run, at(500), 1, ok({ deleted: { id: 11 } }));
    expect(end.events.map((e) => [e.type, e.data])).toEqual([
      ["step.compensated", expect.anything()],
      ["compensation.failed", { steps: [2] }],
      ["run.failed", { error: expect.objectContaining({ code: "upstream_rejected" }) }],
    ]);
    const view = runView(run.state);
    expect(view.compensation).toMatchObject({
      status: "failed",
      error: { code: "compensation_failed", message: "Undoing step 2 (TodoStore.delete) failed: Todo 12 was already deleted." },
    });
    // Ended: nothing more is due, and a late report changes nothing.
    expect(run.command(at(10_000_000), fireDue).events).toEqual([]);
  });

  it("gives up after max_attempts: it never loops", () => {
    const run = twoAddsThenFetch(options({ retry: { max_attempts: 2 } }));
    reportAt(run, at(300), 3, permanent);
    undoAt(run, at(400), 2, retryable);
    run.command(at(900), fireDue);
    const second = undoAt(run, at(1000), 2, retryable);
    expect(second.events[0]).toMatchObject({
      type: "step.compensation_failed",
      data: { error: { message: expect.stringContaining("gave up after 2 attempts") } },
    });
    expect(second.events[0]!.data).not.toHaveProperty("retry_at");
    expect(second.events[1]!.type).toBe("compensation.step_started");
  });

  it("is taken back when its lease expires, and a late report of that attempt is ignored", () => {
    const run = twoAddsThenFetch();
    reportAt(run, at(300), 3, permanent);
    const lost = dispatchOf(run, 2, "compensation.step_started");
    // Its message is sent again at its resend time (the same dispatch), and then the lease decides.
    const resent = run.command(at(300 + RESEND), fireDue);
    expect(resent.events).toMatchObject([{ type: "step.resent", data: { step: 2, dispatch: lost } }]);
    expect(resent.sent).toMatchObject([{ step: 2, dispatch: lost, copy: 1, idempotency_key: expect.stringMatching(/:undo$/) }]);
    expect(run.command(at(300 + LEASE - 1), fireDue).events).toEqual([]);
    const expired = run.command(at(300 + LEASE), fireDue);
    expect(expired.events[0]).toMatchObject({ type: "step.compensation_failed", data: { step: 2, error: { code: "lease_expired" } } });
    // max_attempts 1 here: that was its only attempt, so step 1's undo goes next.
    expect(expired.events[1]).toMatchObject({ type: "compensation.step_started", data: { step: 1 } });
    const late = run.command(at(300 + LEASE + 1), (m) => report(m, [{ step: 2, dispatch: lost, outcome: ok({}) }]));
    expect(late.result).toEqual([{ accepted: false, reason: "not_running" }]);
    expect(late.events).toEqual([]);
  });

  it("ignores a duplicate report of an undo that already ended", () => {
    const run = twoAddsThenFetch();
    reportAt(run, at(300), 3, permanent);
    const dispatch = dispatchOf(run, 2, "compensation.step_started");
    undoAt(run, at(400), 2, ok({}));
    const dup = run.command(at(410), (m) => report(m, [{ step: 2, dispatch, outcome: ok({}) }]));
    expect(dup.result).toEqual([{ accepted: false, reason: "not_running" }]);
    expect(dup.events).toEqual([]);
  });

  it("waits on an open breaker without using an attempt", () => {
    const run = twoAddsThenFetch();
    reportAt(run, at(300), 3, permanent);
    const dispatch = dispatchOf(run, 2, "compensation.step_started");
    const d = run.command(at(310), (m) => defer(m, 2, dispatch, at(5000), stepError("tool_unavailable", "closed for now", { retry_after_ms: 5000 })));
    expect(d.events[0]).toMatchObject({ type: "step.compensation_failed", data: { deferred: true, retry_at: at(5000) } });
    const u = run.state.compensation!.steps[0]!;
    expect([u.attempts, u.deferrals, u.status]).toEqual([0, 1, "pending"]);
    expect(run.command(at(5000), fireDue).sent).toEqual([expect.objectContaining({ step: 2, attempt: 1 })]);
  });

  it("a pre-flight check lets the current undo attempt through, and no stale one", () => {
    const run = twoAddsThenFetch();
    reportAt(run, at(300), 3, permanent);
    expect(preflight(run.state, 2, dispatchOf(run, 2, "compensation.step_started"))).toEqual({ go: true });
    expect(preflight(run.state, 2, dispatchOf(run, 2))).toEqual({ go: false, reason: "stale_dispatch" });
  });

  it("fails for good once compensation's own deadline passes", () => {
    const run = twoAddsThenFetch();
    reportAt(run, at(300), 3, permanent);
    // Compensation began at 300 ms with the run's run_timeout_ms of its own.
    expect(run.state.deadline).toBe(at(300 + RUN_TIMEOUT));
    const out = run.command(at(300 + RUN_TIMEOUT), fireDue);
    expect(types(out.events)).toEqual(["step.compensation_failed", "step.compensation_failed", "compensation.failed", "run.failed"]);
    expect(out.events[0]).toMatchObject({ data: { error: { code: "run_timeout" } } });
  });
});

describe("cancel with compensate", () => {
  it("lets a step in flight finish, skips what has not begun, undoes what succeeded, and ends cancelled", () => {
    const { run } = begin([add(1, "a"), add(2, "b", { depends_on: [1] }), get(3, "https://example.com/c", [2]), get(4, "https://example.com/d")]);
    reportAt(run, at(100), 1, todo(1));
    // Step 2 (an add) and step 4 are in flight.
    const c = run.command(at(200), (m) => cancel(m, "stop", true));
    expect(c.result).toEqual({ ok: true });
    expect(c.events.map((e) => [e.type, e.data])).toEqual([
      ["run.cancelling", { reason: "stop" }],
      ["step.skipped", { step: 3, reason: "cancelled" }],
    ]);
    // The run says a cancel is under way until its undoing starts.
    expect(run.state.status).toBe("cancelling");
    // Step 4 (nothing to undo) finishes and is recorded.
    reportAt(run, at(300), 4, ok({ status: 200 }));
    expect(run.step(4).status).toBe("succeeded");
    expect(run.state.status).toBe("cancelling");
    expect(run.command(at(310), (m) => cancel(m, "twice", true)).events).toEqual([]);
    // Step 2's pre-flight check refuses: it has not begun and never will, so it is skipped now,
    // and step 1's todo is undone.
    expect(preflight(run.state, 2, dispatchOf(run, 2))).toEqual({ go: false, reason: "cancelling" });
    const skip = run.command(at(320), (m) => skipCancelled(m, 2, dispatchOf(run, 2)));
    expect(types(skip.events)).toEqual(["step.skipped", "compensation.started", "compensation.step_started"]);
    expect(skip.sent).toEqual([expect.objectContaining({ step: 1, tool: "TodoStore.delete", input: { id: 1 } })]);
    // A report from step 2 after all (its message raced the cancel) counts for nothing.
    expect(reportAt(run, at(330), 2, todo(2)).result).toEqual([{ accepted: false, reason: "not_running" }]);
  });

  it("undoes a step that finished while the cancel waited for it", () => {
    const { run } = begin([add(1, "a"), add(2, "b")]);
    reportAt(run, at(100), 1, todo(1));
    run.command(at(200), (m) => cancel(m, "stop", true));
    const end = reportAt(run, at(300), 2, todo(2));
    expect(types(end.events)).toEqual(["step.succeeded", "compensation.started", "compensation.step_started"]);
    expect(end.events[1]!.data).toMatchObject({ reason: "cancelled", steps: [{ step: 2 }, { step: 1 }] });
    expect(end.events[1]!.data).not.toHaveProperty("error");
    undoAt(run, at(400), 2, ok({}));
    const last = undoAt(run, at(500), 1, ok({}));
    expect(last.events.map((e) => [e.type, e.data])).toEqual([
      ["step.compensated", expect.anything()],
      ["compensation.completed", {}],
      ["run.cancelled", { reason: "stop" }],
    ]);
    expect(runView(run.state)).toMatchObject({ status: "cancelled", compensation: { status: "completed", reason: "cancelled" } });
  });

  it("ends cancelled at once when nothing is in flight or to undo, and skips a waiting step", () => {
    const { run } = begin([{ step_number: 1, tool: "Human.approve", input: { message: "go?" } }, get(2, "https://example.com/b", [1])]);
    const c = run.command(at(100), (m) => cancel(m, "no", true));
    expect(c.events.map((e) => [e.type, e.data])).toEqual([
      ["run.cancelling", { reason: "no" }],
      ["step.skipped", { step: 1, reason: "cancelled" }],
      ["step.skipped", { step: 2, reason: "cancelled" }],
      ["run.cancelled", { reason: "no" }],
    ]);
  });

  it("refuses while a failed run is compensating (409), and a finished run as before", () => {
    const run = twoAddsThenFetch();
    reportAt(run, at(300), 3, permanent);
    expect(run.command(at(310), (m) => cancel(m, "x", true)).result).toMatchObject({ ok: false, code: "run_compensating" });
    expect(run.command(at(310), (m) => cancel(m, "x")).result).toMatchObject({ ok: false, code: "run_compensating" });
  });
});

describe("run_timeout", () => {
  it("fails what is in flight, then undoes what succeeded before the run fails with run_timeout", () => {
    const { run } = begin([add(1, "a"), get(2, "https://example.com/slow", [1])], options({ retry: { max_attempts: 1 } }));
    reportAt(run, at(100), 1, todo(3));
    const out = run.command(at(RUN_TIMEOUT), fireDue);
    expect(types(out.events)).toEqual(["step.failed", "compensation.started", "compensation.step_started"]);
    expect(out.events[1]!.data).toMatchObject({ error: { code: "run_timeout" } });
    const end = undoAt(run, at(RUN_TIMEOUT + 10), 1, ok({}));
    expect(end.events.at(-1)).toMatchObject({ type: "run.failed", data: { error: { code: "run_timeout" } } });
  });
});

describe("resume after compensation", () => {
  it("runs the undone steps again under new keys, and a second failure undoes them under those", () => {
    const run = twoAddsThenFetch();
    reportAt(run, at(300), 3, permanent);
    undoAt(run, at(400), 2, ok({}));
    undoAt(run, at(500), 1, ok({}));
    const resumed = run.command(at(600), resume);
    expect(resumed.events[0]).toMatchObject({ type: "run.resumed", data: { steps: [1, 2, 3] } });
    expect(resumed.sent).toEqual([expect.objectContaining({ step: 1, idempotency_key: "run_test:1:r1" })]);
    expect(resumed.events.find((e) => e.type === "step.started")!.data).toMatchObject({ idempotency_key: "run_test:1:r1" });
    expect(runView(run.state).compensation).toBeNull();
    reportAt(run, at(700), 1, todo(31));
    reportAt(run, at(800), 2, todo(32));
    const failed = reportAt(run, at(900), 3, permanent);
    expect(failed.sent).toEqual([expect.objectContaining({ step: 2, input: { id: 32 }, idempotency_key: "run_test:2:r1:undo" })]);
  });

  it("keeps a step whose undo failed: its effect still stands", () => {
    const run = twoAddsThenFetch();
    reportAt(run, at(300), 3, permanent);
    undoAt(run, at(400), 2, permanent);
    undoAt(run, at(500), 1, ok({}));
    const resumed = run.command(at(600), resume);
    expect(resumed.events[0]).toMatchObject({ data: { steps: [1, 3] } });
    expect(run.step(2).status).toBe("succeeded");
  });
});
