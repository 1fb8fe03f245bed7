// Child runs as decisions (src/durable/run/children.ts through the decider): how a Run.start step
// is dispatched, what a created, refused or ended child does to it, and what an ended parent still
// owes. Driven without a Durable Object, with the test's clock; test/held/children.test.ts runs
// the same through real run objects.
import { describe, expect, it } from "vitest";
import { childCreated, childEnded, childrenToCancel, type ChildStart } from "../src/durable/run/domain/children";
import { CHILD_START_LEASE_MS, childDispatches } from "../src/durable/run/domain/executors/child";
import { fireDue } from "../src/durable/run/domain/decide";
import { cancel } from "../src/durable/run/domain/control";
import { runView } from "../src/durable/run/run-view";
import { stepError } from "../src/execution/step-error";
import { at, begin, type StepSpec } from "./decider-harness";

const child = (step_number: number, input: Record<string, unknown> = { prompt: "calculate 1 + 1" }, depends_on: number[] = []): StepSpec => ({
  step_number,
  tool: "Run.start",
  input,
  depends_on,
});
const created = (run_id: string, status = "running", result: unknown = null): ChildStart => ({ ok: true, child: { run_id, status, result, error: null } });
const capRefusal: ChildStart = { ok: false, reason: "at_capacity", error: stepError("child_at_capacity", "full") };
const notice = (step: number, run_id: string, status: string, result: unknown = null, error: { code: string; message: string } | null = null) => ({
  tenant: "tenant_test",
  step,
  run_id,
  status,
  result,
  error,
});

describe("Run.start dispatch", () => {
  it("starts every ready Run.start step with a short lease and no queue message, named for the run object to create", () => {
    const { run, events, sent } = begin([child(1), child(2), { step_number: 3, tool: "Run.collect", input: { values: [1] }, depends_on: [1, 2] }]);
    expect(sent).toEqual([]);
    const starts = events.filter((e) => e.type === "step.started");
    // The input recorded is what the tool got: parsed, with Run.start's default `wait` filled in.
    expect(starts.map((e) => e.data)).toEqual([
      { step: 1, attempt: 1, input: { prompt: "calculate 1 + 1", wait: true }, executor: "child", lease_until: at(CHILD_START_LEASE_MS) },
      { step: 2, attempt: 1, input: { prompt: "calculate 1 + 1", wait: true }, executor: "child", lease_until: at(CHILD_START_LEASE_MS) },
    ]);
    expect(childDispatches(events)).toEqual(starts.map((e) => ({ step: (e.data as { step: number }).step, dispatch: e.seq })));
    expect(run.state.status).toBe("running");
  });

  it("fails at dispatch an input that gives both a prompt and a plan, before any child is asked for", () => {
    const { run, events } = begin([child(1, { prompt: "x", plan: { steps: [{ step_number: 1, tool: "Calculator.evaluate", input: { expression: "1" } }] } })]);
    // The dispatch is recorded and failed in the same command: the run object creates children only for running steps.
    expect(events.map((e) => e.type)).toContain("step.failed");
    expect(run.step(1).status).toBe("failed");
    expect(run.state.status).toBe("failed");
    expect(run.step(1).error).toMatchObject({ code: "invalid_input" });
  });
});

describe("a created child", () => {
  it("with wait: the step waits, holding no lease, until the child says it completed", () => {
    const { run, events } = begin([child(1)]);
    const [{ dispatch }] = childDispatches(events) as [{ step: number; dispatch: number }];
    run.command(at(10), (m) => childCreated(m, 1, dispatch, created("run_child")));
    expect(run.step(1)).toMatchObject({ status: "running", lease_until: null });
    expect(runView(run.state).children).toEqual([{ run_id: "run_child", step: 1, status: "running" }]);
    run.command(at(500), (m) => childEnded(m, notice(1, "run_child", "completed", 2)));
    expect(run.step(1)).toMatchObject({ status: "succeeded", output: { run_id: "run_child", status: "completed", result: 2 } });
    expect(run.state).toMatchObject({ status: "completed", result: { run_id: "run_child", status: "completed", result: 2 } });
    expect(runView(run.state).children).toEqual([{ run_id: "run_child", step: 1, status: "completed" }]);
  });

  it("a child that ended inside its create ends the step at once", () => {
    const { run, events } = begin([child(1)]);
    run.command(at(10), (m) => childCreated(m, 1, childDispatches(events)[0]!.dispatch, created("run_child", "completed", 7)));
    expect(run.state).toMatchObject({ status: "completed", result: { result: 7 } });
  });

  it("without wait: the step succeeds with the child's run id at once", () => {
    const { run, events } = begin([child(1, { prompt: "calculate 1 + 1", wait: false })]);
    run.command(at(10), (m) => childCreated(m, 1, childDispatches(events)[0]!.dispatch, created("run_child")));
    expect(run.state).toMatchObject({ status: "completed", result: { run_id: "run_child" } });
  });

  it("a failed or cancelled child fails the step for good, naming the child and its error", () => {
    for (const [status, code] of [
      ["failed", "child_failed"],
      ["cancelled", "child_cancelled"],
    ] as const) {
      const { run, events } = begin([child(1)]);
      run.command(at(10), (m) => childCreated(m, 1, childDispatches(events)[0]!.dispatch, created("run_child")));
      run.command(at(20), (m) =>
        childEnded(m, notice(1, "run_child", status, null, { code: "division_by_zero", message: "Step 1 failed: Division by zero." })),
      );
      expect(run.step(1).error).toMatchObject({ code, retryable: false });
      expect(run.step(1).error!.message).toContain("run_child");
      expect(run.step(1).error!.message).toContain("division_by_zero");
      expect(run.state.status).toBe("failed");
      expect(run.state.error).toMatchObject({ code, step_number: 1 });
    }
  });

  it("records a child's end once: a repeated notice changes nothing", () => {
    const { run, events } = begin([child(1)]);
    run.command(at(10), (m) => childCreated(m, 1, childDispatches(events)[0]!.dispatch, created("run_child")));
    run.command(at(20), (m) => childEnded(m, notice(1, "run_child", "completed", 1)));
    const again = run.command(at(30), (m) => childEnded(m, notice(1, "run_child", "completed", 1)));
    expect(again.events).toEqual([]);
  });

  it("a creation reported twice for the same dispatch lists the child once", () => {
    const { run, events } = begin([child(1)]);
    const dispatch = childDispatches(events)[0]!.dispatch;
    run.command(at(10), (m) => childCreated(m, 1, dispatch, created("run_child")));
    const again = run.command(at(20), (m) => childCreated(m, 1, dispatch, created("run_child")));
    expect(again.events).toEqual([]);
    expect(run.state.children).toHaveLength(1);
  });

  it("a child that ends before its creation was recorded is linked from its notice", () => {
    const { run } = begin([child(1)]);
    run.command(at(10), (m) => childEnded(m, notice(1, "run_child", "completed", 3)));
    const after = run.command(at(20), () => {}).events;
    expect(after).toEqual([]);
    expect(run.log.slice(-3).map((e) => e.type)).toEqual(["child.started", "step.succeeded", "run.completed"]);
    expect(run.state).toMatchObject({ status: "completed", children: [{ run_id: "run_child", status: "completed" }] });
  });
});

describe("a child that could not start", () => {
  it("refused by the tenant's cap: the step waits without using an attempt, backing off each time", () => {
    const { run, events } = begin([child(1)]);
    run.command(at(10), (m) => childCreated(m, 1, childDispatches(events)[0]!.dispatch, capRefusal));
    expect(run.step(1)).toMatchObject({ status: "pending", attempts: 0, deferrals: 1, retry_at: at(10 + 1000), error: { code: "child_at_capacity" } });
    // The watchdog starts it again at its time: a new dispatch, refused again, waits twice as long.
    const retried = run.command(at(1010), fireDue);
    const dispatch = childDispatches(retried.events)[0]!.dispatch;
    run.command(at(1020), (m) => childCreated(m, 1, dispatch, capRefusal));
    expect(run.step(1)).toMatchObject({ status: "pending", attempts: 0, deferrals: 2, retry_at: at(1020 + 2000) });
    expect(run.state.status).toBe("running");
  });

  it("too deep, or unplannable: the step fails for good", () => {
    const { run, events } = begin([child(1)]);
    const refusal: ChildStart = { ok: false, reason: "not_started", error: stepError("run_depth_exceeded", "too deep") };
    run.command(at(10), (m) => childCreated(m, 1, childDispatches(events)[0]!.dispatch, refusal));
    expect(run.state).toMatchObject({ status: "failed", error: { code: "run_depth_exceeded" } });
  });

  it("a dispatch whose child was never recorded is taken back when its lease ends, and retried", () => {
    const { run } = begin([child(1)]);
    run.command(at(CHILD_START_LEASE_MS), fireDue);
    expect(run.step(1)).toMatchObject({ status: "pending", error: { code: "lease_expired" } });
  });
});

describe("an ended parent", () => {
  it("owes a cancel to its children not known to have ended, when it failed or was cancelled", () => {
    const { run, events } = begin([child(1), child(2)]);
    const [a, b] = childDispatches(events) as [{ step: number; dispatch: number }, { step: number; dispatch: number }];
    run.command(at(10), (m) => childCreated(m, 1, a.dispatch, created("run_a")));
    run.command(at(10), (m) => childCreated(m, 2, b.dispatch, created("run_b")));
    run.command(at(20), (m) => childEnded(m, notice(1, "run_a", "completed", 1)));
    expect(childrenToCancel(run.state)).toEqual([]);
    run.command(at(30), (m) => cancel(m, "stop"));
    expect(childrenToCancel(run.state)).toEqual(["run_b"]);
    // The child's own notice of its cancellation settles it.
    run.command(at(40), (m) => childEnded(m, notice(2, "run_b", "cancelled")));
    expect(childrenToCancel(run.state)).toEqual([]);
    expect(runView(run.state).children.map((c) => c.status)).toEqual(["completed", "cancelled"]);
  });
});
