// One row per executor, each driven through the one interface the attempt protocol uses: what
// starting an attempt records and sends, which deadline the attempt then has, and what happens when
// the watchdog finds that deadline passed. A new kind of step gets its row here.
import { describe, expect, it } from "vitest";
import { fireDue, nextDeadline } from "../src/durable/run/domain/decide";
import { executorOf } from "../src/durable/run/domain/executors/index";
import { CHILD_START_LEASE_MS } from "../src/durable/run/domain/executors/child";
import { getTool } from "../src/tools/registry";
import { EXECUTOR_TRAITS, type Tool } from "../src/tools/tool";
import { RESEND, RUN_TIMEOUT, T0, at, begin, type StepSpec } from "./decider-harness";

interface Row {
  kind: Tool["executor"];
  step: StepSpec;
  /** The events starting the attempt appends, in order (types only; the data is checked below). */
  starts: string[];
  /** Messages the start sends to the queue. */
  sends: number;
  /** The attempt's deadline, as an offset from T0 (null: none; the run's own deadline then). */
  deadline: number | null;
  /** When the step's own work has deadlines of its own (an agent's model call): the watchdog's, if not the attempt's. */
  watchdog?: number;
  /** What the watchdog records when that deadline passes (null: nothing to wait for). */
  expires: { type: string; data: Record<string, unknown> } | null;
  /** The step's status after expiry. */
  after: string | null;
}

const ROWS: Row[] = [
  {
    kind: "inline",
    step: { step_number: 1, tool: "Calculator.evaluate", input: { expression: "6 * 7" } },
    starts: ["run.started", "step.started", "step.succeeded", "run.completed"],
    sends: 0,
    deadline: null,
    expires: null,
    after: null,
  },
  {
    kind: "queue",
    step: { step_number: 1, tool: "Http.get", input: { url: "https://example.com/" } },
    starts: ["run.started", "step.started"],
    sends: 1,
    // Its first deadline is the resend time: the same dispatch is sent again; the lease comes later (resend.test.ts).
    deadline: RESEND,
    expires: { type: "step.resent", data: { step: 1, dispatch: 4 } },
    after: "running",
  },
  {
    kind: "timer",
    step: { step_number: 1, tool: "Wait.sleep", input: { seconds: 5 } },
    starts: ["run.started", "step.started"],
    sends: 0,
    deadline: 5000,
    expires: { type: "step.succeeded", data: { step: 1, output: { slept_seconds: 5 } } },
    after: "succeeded",
  },
  {
    kind: "await",
    step: { step_number: 1, tool: "Human.approve", input: { message: "ok?", timeout_seconds: 60, on_timeout: "approve" } },
    starts: ["run.started", "step.waiting"],
    sends: 0,
    deadline: 60_000,
    expires: { type: "step.decided", data: { step: 1, decision: "approve", decided_by: "timeout", timed_out: true } },
    after: "succeeded",
  },
  {
    kind: "child",
    step: { step_number: 1, tool: "Run.start", input: { prompt: "calculate 1 + 1" } },
    starts: ["run.started", "step.started"],
    sends: 0,
    deadline: CHILD_START_LEASE_MS,
    expires: { type: "step.retry_scheduled", data: { step: 1, attempt: 1, error: { code: "lease_expired" } } },
    after: "pending",
  },
  {
    // The agent step has no deadline of its own: its model call (queued, with a lease) has one.
    kind: "agent",
    step: { step_number: 1, tool: "Agent.run", input: { goal: "add 2 and 3" } },
    starts: ["run.started", "step.started", "agent.turn_started", "llm.call_started"],
    sends: 1,
    deadline: null,
    watchdog: RESEND,
    expires: { type: "step.resent", data: { step: 1, dispatch: 6 } },
    after: "running",
  },
];

describe("executors, through the one interface", () => {
  it("has a row for every kind a tool may declare", () => {
    expect(ROWS.map((r) => r.kind).sort()).toEqual(Object.keys(EXECUTOR_TRAITS).sort());
  });

  it.each(ROWS)("$kind: starts, leaves its deadline, and expires as its executor says", (row) => {
    const tool = getTool(row.step.tool)!;
    expect(tool.executor).toBe(row.kind);
    const { run, events, sent } = begin([row.step]);
    expect(events.map((e) => e.type)).toEqual(row.starts);
    expect(sent).toHaveLength(row.sends);
    const s = run.step(1);
    // The executor's own answer, and the watchdog's, which takes the earliest of every attempt's.
    expect(executorOf(tool).deadline(s)).toBe(row.deadline === null ? null : at(row.deadline));
    const due = row.watchdog ?? row.deadline;
    expect(nextDeadline(run.state, T0)).toBe(due === null ? null : at(Math.min(due, RUN_TIMEOUT)));
    if (due === null) return;
    // Not yet: a watchdog a millisecond early changes nothing.
    expect(run.command(at(due - 1), fireDue).events).toEqual([]);
    const out = run.command(at(due), fireDue);
    expect(out.events[0]).toMatchObject(row.expires!);
    expect(run.step(1).status).toBe(row.after);
  });
});
