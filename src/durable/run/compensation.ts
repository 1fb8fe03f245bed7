// Saga compensation, as decisions: when a run fails (or is cancelled with compensation), each
// succeeded step that has a compensation is undone, one at a time, in reverse order of completion.
// An undo is attempt-bearing work like a step: inline or queued (the same message, lease and
// report protocol, under an idempotency key of its own), retried by the run's retry policy, and
// bounded by a deadline of its own. One that fails for good does not stop the others; it leaves
// the compensation "failed". Nothing here loops: every attempt either ends or expires.
import { decideRetry } from "../../execution/retry-policy";
import { leaseFor } from "../../execution/run-options";
import { invalidInput, stepError, type StepError } from "../../execution/step-error";
import { stepMessage } from "../../execution/step-protocol";
import type { Json } from "../../lib/json";
import type { Compensation, PlanStep } from "../../execution/plan-schema";
import { UnresolvedReferenceError, resolveReferences } from "../../planner/references";
import { getTool } from "../../tools/registry";
import type { Machine } from "./machine";
import type { RunError } from "./run-events";
import { stepOutputs, type RunState, type StepState, type UndoState } from "./run-state";

/** The call that undoes a step: the plan's own (null: none), else its tool's default. */
export function compensationOf(step: Pick<PlanStep, "step_number" | "tool" | "compensate">): Compensation | null {
  if (step.compensate !== undefined) return step.compensate;
  return getTool(step.tool)?.compensation?.(step.step_number) ?? null;
}

/** The idempotency key of a step's attempts: a step run again after its effect was undone gets a new one. */
export const stepKey = (runId: string, s: Pick<StepState, "step_number" | "undone">) => `${runId}:${s.step_number}${s.undone ? `:r${s.undone}` : ""}`;
const undoKey = (runId: string, s: StepState) => `${stepKey(runId, s)}:undo`;

/** Succeeded steps with something to undo, in the order they are undone: the last to succeed first. */
function toUndo(state: RunState): { step: StepState; call: Compensation }[] {
  return [...state.steps.values()]
    .filter((s) => s.status === "succeeded")
    .sort((a, b) => (b.succeeded_seq ?? 0) - (a.succeeded_seq ?? 0))
    .flatMap((s) => {
      const call = compensationOf(s);
      return call ? [{ step: s, call }] : [];
    });
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
    steps: steps.map(({ step, call }) => ({ step: step.step_number, tool: call.tool, input: call.input })),
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
  if (!c) return "done";
  if (c.status !== "running") return "done";
  for (;;) {
    const next = c.steps.find((u) => u.status === "pending" || u.status === "running");
    if (!next) {
      const failed = c.steps.filter((u) => u.status === "failed").map((u) => u.step_number);
      if (failed.length) m.emit("compensation.failed", { steps: failed });
      else m.emit("compensation.completed", {});
      return "done";
    }
    if (next.status === "running" || (next.retry_at !== null && next.retry_at > m.now)) return "busy";
    startUndo(m, next);
  }
}

function startUndo(m: Machine, u: UndoState): void {
  const attempt = u.attempt + 1;
  const s = m.state.steps.get(u.step_number)!;
  let input: unknown;
  try {
    input = resolveReferences(u.input, stepOutputs(m.state));
  } catch (err) {
    if (!(err instanceof UnresolvedReferenceError)) throw err;
    m.emit("step.compensation_failed", { step: u.step_number, attempt, error: stepError("reference_unresolved", err.message) });
    return;
  }
  const tool = getTool(u.tool);
  if (tool?.executor !== "inline" && tool?.executor !== "queue") {
    m.emit("step.compensation_failed", { step: u.step_number, attempt, error: stepError("unknown_tool", `No tool that acts is named "${u.tool}".`) });
    return;
  }
  const parsed = tool.input_schema.safeParse(input);
  if (!parsed.success) {
    m.emit("compensation.step_started", { step: u.step_number, attempt, input, executor: tool.executor });
    failUndo(m, u, attempt, invalidInput(u.tool, parsed.error.issues));
    return;
  }
  const timeout = m.state.options.step_timeout_ms;
  if (tool.executor === "inline") {
    m.emit("compensation.step_started", { step: u.step_number, attempt, input, executor: "inline" });
    const began = m.clock();
    const result = tool.run(parsed.data);
    const took = Math.max(0, m.clock() - began);
    if (result.success) m.emit("step.compensated", { step: u.step_number, attempt, output: result.output, duration_ms: took });
    else failUndo(m, u, attempt, result.error);
    return;
  }
  const lease_until = m.now + leaseFor(timeout);
  const { run_id, tenant, trace_id } = m.state;
  const idempotency_key = undoKey(run_id, s);
  const dispatch = m.emit("compensation.step_started", { step: u.step_number, attempt, input, executor: "queue", lease_until, idempotency_key });
  m.send(
    stepMessage(
      { run_id, tenant, step: u.step_number, attempt, dispatch, tool: u.tool, timeout_ms: timeout, lease_until, trace_id, idempotency_key },
      input as Json,
    ),
  );
}

/** A failed attempt to undo: tried again later by the run's retry policy, or failed for good. */
export function failUndo(m: Machine, u: UndoState, attempt: number, error: StepError): void {
  const decision = decideRetry(error, u.attempts, m.state.options);
  if (decision.retry) {
    m.emit("step.compensation_failed", { step: u.step_number, attempt, error, retry_at: m.now + decision.delay_ms });
  } else {
    const message = decision.reason === "attempts_exhausted" ? `${error.message} (gave up after ${u.attempts} attempts)` : error.message;
    m.emit("step.compensation_failed", { step: u.step_number, attempt, error: { ...error, message } });
  }
}

/** The undo a dispatch belongs to, if it is that undo's current attempt. */
export function undoOf(state: RunState, step: number, dispatch: number): UndoState | undefined {
  return state.compensation?.steps.find((u) => u.step_number === step && u.dispatch_seq === dispatch);
}

/** The watchdog's share: undo attempts whose lease expired are taken back. */
export function expireUndos(m: Machine): void {
  for (const u of m.state.compensation?.steps ?? []) {
    if (u.status === "running" && u.lease_until !== null && u.lease_until <= m.now)
      failUndo(m, u, u.attempt, stepError("lease_expired", `No consumer reported attempt ${u.attempt} of undoing step ${u.step_number} within its lease.`));
  }
}

/** Compensation passed its deadline: every undo not yet ended fails for good. */
export function timeOutUndos(m: Machine): void {
  const limit = m.state.options.run_timeout_ms;
  for (const u of m.state.compensation?.steps ?? []) {
    if (u.status === "pending" || u.status === "running")
      m.emit("step.compensation_failed", {
        step: u.step_number,
        attempt: u.attempt,
        error: stepError("run_timeout", `Compensation did not finish within the run's run_timeout_ms (${limit} ms).`),
      });
  }
}

/** The undo deadlines the watchdog wakes for. */
export function undoDeadlines(state: RunState): (number | null)[] {
  return (state.compensation?.steps ?? []).map((u) => (u.status === "running" ? u.lease_until : u.status === "pending" ? u.retry_at : null));
}
