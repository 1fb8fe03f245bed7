// The fold of compensation's events: which steps are undone, in which order, and each undo's
// attempts, deadlines and outcome. Part of the run's fold (run-state.ts spreads these handlers).
import type { StepError } from "../../execution/step-error";
import type { CompensationStatus, UndoStatus } from "../../execution/statuses";
import type { RunError } from "./run-events";
import type { Handlers, RunState } from "./run-state";

/** Undoing one succeeded step: an attempt-bearing piece of work of its own, like a step. */
export interface UndoState {
  step_number: number;
  tool: string;
  /** As written (references unresolved). */
  input: Record<string, unknown>;
  status: UndoStatus;
  attempt: number;
  attempts: number;
  deferrals: number;
  dispatch_seq: number | null;
  resolved_input: unknown;
  output: unknown;
  error: StepError | null;
  started_at: string | null;
  started_ms: number | null;
  completed_at: string | null;
  lease_until: number | null;
  retry_at: number | null;
}

export interface CompensationState {
  status: CompensationStatus;
  reason: "run_failed" | "cancelled";
  /** What the run fails with once compensation has ended (null: it was cancelled). */
  error: RunError | null;
  /** In the order they run. */
  steps: UndoState[];
}

function newUndo(d: { step: number; tool: string; input: Record<string, unknown> }): UndoState {
  return {
    step_number: d.step,
    tool: d.tool,
    input: d.input,
    status: "pending",
    attempt: 0,
    attempts: 0,
    deferrals: 0,
    dispatch_seq: null,
    resolved_input: null,
    output: null,
    error: null,
    started_at: null,
    started_ms: null,
    completed_at: null,
    lease_until: null,
    retry_at: null,
  };
}

const undo = (state: RunState, n: number): UndoState => {
  const u = state.compensation?.steps.find((c) => c.step_number === n);
  if (!u) throw new Error(`event refers to no compensation of step ${n}`);
  return u;
};

type CompensationEvents =
  | "run.cancelling"
  | "compensation.started"
  | "compensation.step_started"
  | "step.compensated"
  | "step.compensation_failed"
  | "compensation.completed"
  | "compensation.failed";

export const compensationHandlers: Pick<Handlers, CompensationEvents> = {
  "run.cancelling": (state, d) => {
    state.cancelling = d.reason;
  },
  "compensation.started": (state, d, at) => {
    state.status = "compensating";
    state.compensation = { status: "running", reason: d.reason, error: d.error ?? null, steps: d.steps.map(newUndo) };
    // Undoing gets a deadline of its own: the run's whole run_timeout_ms again.
    state.deadline = Date.parse(at) + state.options.run_timeout_ms;
  },
  "compensation.step_started": (state, d, at, seq) => {
    const u = undo(state, d.step);
    u.status = "running";
    u.attempt = d.attempt;
    u.attempts += 1;
    u.dispatch_seq = seq;
    u.resolved_input = d.input;
    u.started_at = at;
    u.started_ms = Date.parse(at);
    u.lease_until = d.lease_until ?? null;
    u.retry_at = null;
  },
  "step.compensated": (state, d, at) => {
    const u = undo(state, d.step);
    u.status = "succeeded";
    u.output = d.output;
    u.error = null;
    u.completed_at = at;
    u.lease_until = null;
  },
  "step.compensation_failed": (state, d, at) => {
    const u = undo(state, d.step);
    u.error = d.error;
    u.lease_until = null;
    if (d.retry_at === undefined) {
      u.status = "failed";
      u.completed_at = at;
      return;
    }
    u.status = "pending";
    u.retry_at = d.retry_at;
    if (d.deferred) {
      // Turned away before the tool ran: the attempt is given back.
      u.attempts = Math.max(0, u.attempts - 1);
      u.attempt = Math.max(0, u.attempt - 1);
      u.deferrals += 1;
    }
  },
  "compensation.completed": (state) => {
    state.compensation!.status = "completed";
  },
  "compensation.failed": (state) => {
    state.compensation!.status = "failed";
  },
};
