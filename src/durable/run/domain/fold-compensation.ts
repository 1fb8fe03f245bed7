// The fold of compensation's events: which steps are undone, in which order, and each undo's
// attempts, deadlines and outcome. Part of the run's fold (fold.ts spreads these handlers). An undo
// records its attempts with the same helpers a step does (fold-attempt.ts).
import { beginAttempt, giveBack, waitToRetry } from "./fold-attempt";
import { noAttempt, type Handlers, type RunState, type UndoState } from "./state";

function newUndo(d: { step: number; call?: number | undefined; tool: string; input: Record<string, unknown> }): UndoState {
  return { step_number: d.step, call: d.call ?? null, tool: d.tool, input: d.input, status: "pending", ...noAttempt() };
}

/** The undo of a step, or of one of an agent step's calls. */
const undo = (state: RunState, d: { step: number; call?: number | undefined }): UndoState => {
  const u = state.compensation?.steps.find((c) => c.step_number === d.step && c.call === (d.call ?? null));
  if (!u) throw new Error(`event refers to no compensation of step ${d.step}${d.call ? ` call ${d.call}` : ""}`);
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
    const u = undo(state, d);
    beginAttempt(u, d, at, seq);
    u.status = "running";
    u.lease_until = d.lease_until ?? null;
    u.resend_at = d.resend_at ?? null;
  },
  "step.compensated": (state, d, at) => {
    const u = undo(state, d);
    u.status = "succeeded";
    u.output = d.output;
    u.error = null;
    u.completed_at = at;
    u.lease_until = null;
  },
  "step.compensation_failed": (state, d, at) => {
    const u = undo(state, d);
    if (d.retry_at === undefined) {
      u.error = d.error;
      u.lease_until = null;
      u.status = "failed";
      u.completed_at = at;
      return;
    }
    waitToRetry(u, d.error, d.retry_at);
    if (d.deferred) giveBack(u, at);
  },
  "compensation.completed": (state) => {
    state.compensation!.status = "completed";
  },
  "compensation.failed": (state) => {
    state.compensation!.status = "failed";
  },
};
