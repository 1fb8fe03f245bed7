// Saga compensation, as decisions: when a run fails (or is cancelled with compensation), each
// succeeded step that has a compensation is undone, one at a time, in reverse order of completion.
// An undo is work like a step: it is started, leased, reported, retried and expired by the one
// attempt protocol (work.ts), under an idempotency key of its own, and bounded by compensation's
// own deadline. One that fails for good does not stop the others; it leaves the compensation
// "failed". Nothing here loops: every attempt either ends or expires.
import type { Compensation, PlanStep } from "../../../execution/plan-schema";
import { stepError } from "../../../execution/step-error";
import { getTool } from "../../../tools/registry";
import type { RunError } from "./events";
import type { Machine } from "./machine";
import { agentCalls } from "./queries";
import type { RunState } from "./state";
import { failForGood, start } from "./work";

/** The call that undoes a step: the plan's own (null: none), else its tool's default. */
export function compensationOf(step: Pick<PlanStep, "step_number" | "tool" | "compensate">): Compensation | null {
  if (step.compensate !== undefined) return step.compensate;
  return getTool(step.tool)?.compensation?.(step.step_number) ?? null;
}

interface ToUndo {
  step: number;
  /** An agent step's call (absent: the step itself). */
  agentCall?: number;
  succeeded_seq: number;
  call: Compensation;
}

/**
 * Succeeded steps with something to undo, and the succeeded calls agents made with something to
 * undo (whatever became of their agent step), in the order they are undone: the last to succeed first.
 */
function toUndo(state: RunState): ToUndo[] {
  const steps = [...state.steps.values()].flatMap((s): ToUndo[] => {
    const call = s.status === "succeeded" ? compensationOf(s) : null;
    const own: ToUndo[] = call ? [{ step: s.step_number, succeeded_seq: s.succeeded_seq ?? 0, call }] : [];
    const calls = agentCalls(s).filter((c) => c.status === "succeeded");
    return own.concat(
      calls.flatMap((c): ToUndo[] => {
        const undo = getTool(c.tool)?.compensation?.(s.step_number);
        return undo ? [{ step: s.step_number, agentCall: c.call, succeeded_seq: c.succeeded_seq ?? 0, call: undo }] : [];
      }),
    );
  });
  return steps.sort((a, b) => b.succeeded_seq - a.succeeded_seq);
}

/**
 * Starts compensation if anything needs undoing; answers whether it did. `error` is what the run
 * fails with once it has ended (none for a cancelled run).
 */
export function beginCompensation(m: Machine, reason: "run_failed" | "cancelled", error: RunError | null): boolean {
  const steps = toUndo(m.state);
  if (steps.length === 0) return false;
  m.emit("compensation.started", {
    reason,
    ...(error ? { error } : {}),
    steps: steps.map(({ step, agentCall, call }) => ({ step, ...(agentCall !== undefined ? { call: agentCall } : {}), tool: call.tool, input: call.input })),
  });
  return true;
}

/**
 * Moves compensation forward: starts the next undo when the one before has ended (an inline undo
 * ends at once, so this repeats), and ends the compensation when every undo has. Answers "done"
 * once it has ended, so the caller can end the run.
 */
export function advanceCompensation(m: Machine): "done" | "busy" {
  const c = m.state.compensation;
  if (!c || c.status !== "running") return "done";
  for (;;) {
    const next = c.steps.find((u) => u.status === "pending" || u.status === "running");
    if (!next) {
      const failed = c.steps.filter((u) => u.status === "failed").map((u) => u.step_number);
      if (failed.length) m.emit("compensation.failed", { steps: failed });
      else m.emit("compensation.completed", {});
      return "done";
    }
    if (next.status === "running" || (next.retry_at !== null && next.retry_at > m.now)) return "busy";
    start(m, { kind: "undo", s: next });
  }
}

/** Compensation passed its deadline: every undo not yet ended fails for good. */
export function timeOutUndos(m: Machine): void {
  const limit = m.state.options.run_timeout_ms;
  const error = stepError("run_timeout", `Compensation did not finish within the run's run_timeout_ms (${limit} ms).`);
  for (const u of m.state.compensation?.steps ?? []) {
    if (u.status === "pending" || u.status === "running") failForGood(m, { kind: "undo", s: u }, u.attempt, error);
  }
}
