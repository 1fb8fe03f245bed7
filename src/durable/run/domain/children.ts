// A run's decisions about its child runs (Run.start steps), as pure functions of its state like
// decide.ts's. A Run.start step's dispatch is a step.started with a short lease (executors/child.ts);
// the run object then creates the child (one call to the child's object, effects/family.ts) and reports here how that
// went. A waiting step ends when the child tells this run that it ended (childEnded), never by
// polling. Creating is idempotent: the child's id derives from (parent, step, undo count), so a
// repeated creation (a retried dispatch, a crash before the result was recorded) finds its child.
import { backoffDelay } from "../../../execution/backoff";
import { stepError, type StepError } from "../../../execution/step-error";
import { runEnded } from "../../../execution/statuses";
import { advance } from "./decide";
import type { Machine } from "./machine";
import { TERMINAL_RUN, type RunState, type StepState } from "./state";
import { fail, succeed as succeedWork } from "./work";

/** Runs nest at most this deep by default (MAX_RUN_DEPTH): a top-level run is depth 0. */
export const DEFAULT_MAX_RUN_DEPTH = 5;
const CAP_RETRY_MIN_MS = 1_000;

/** The child as its object answered or reported it. */
export interface ChildOutcome {
  run_id: string;
  status: string;
  result: unknown;
  error: { code: string; message: string } | null;
}

/** A child run's end, as it tells its parent (RunObject.childEnded). */
export interface ChildNotice extends ChildOutcome {
  tenant: string;
  step: number;
}

export type ChildStart = { ok: true; child: ChildOutcome } | { ok: false; reason: "at_capacity" | "not_started" | "unreachable"; error: StepError };

/** The key the child's run id derives from: a step re-run after its effect was undone starts a new child. */
export const childKey = (state: RunState, s: StepState): string =>
  `child:${state.run_id}:${s.step_number}:${s.undone}${s.generation ? `:g${s.generation}` : ""}`;

/** Does this step wait for its child (Run.start's `wait`, true unless given false)? */
export const waitsForChild = (s: StepState): boolean => (s.resolved_input as { wait?: unknown } | null)?.wait !== false;

/** The step's current dispatch, if it is still running and waits for its child to start or end. */
function running(m: Machine, step: number, dispatch?: number): StepState | undefined {
  const s = m.state.steps.get(step);
  if (!s || s.status !== "running" || TERMINAL_RUN.has(m.state.status)) return undefined;
  return dispatch === undefined || s.dispatch_seq === dispatch ? s : undefined;
}

/** The step's child link for the current dispatch, if the child is known. */
const linked = (m: Machine, s: StepState, runId: string) => m.state.children.find((c) => c.step === s.step_number && c.run_id === runId);

/** The run object tried to create the child for `dispatch`: record the child, or why there is none. */
export function childCreated(m: Machine, step: number, dispatch: number, start: ChildStart): void {
  if (start.ok) {
    const { child } = start;
    const s = m.state.steps.get(step);
    // Whatever became of the step meanwhile, the child exists and is this run's: it is listed (and
    // cancelled with this run if this run has ended badly).
    if (!m.state.children.some((c) => c.run_id === child.run_id))
      m.emit("child.started", { step, run_id: child.run_id, wait: s ? waitsForChild(s) : true, status: child.status });
    const current = running(m, step, dispatch);
    if (!current) return;
    if (!waitsForChild(current)) succeed(m, current, { run_id: child.run_id });
    else if (runEnded(child.status)) endWithChild(m, current, child);
    advance(m);
    return;
  }
  const s = running(m, step, dispatch);
  if (!s) return;
  if (start.reason === "at_capacity") {
    // Refused by the tenant's cap: not a failure. The step waits (the attempt is given back) and the
    // watchdog tries again later, backing off.
    const { options } = m.state;
    const delay = backoffDelay(
      { initialMs: Math.max(CAP_RETRY_MIN_MS, options.initial_delay_ms), maxMs: options.max_delay_ms, jitter: false },
      s.deferrals + 1,
    );
    m.emit("step.deferred", { step, attempt: s.attempt, error: start.error, retry_at: m.now + delay });
  } else fail(m, { kind: "step", s }, start.error);
  advance(m);
}

/**
 * A child says it ended (the caller checked it is this run's child for `notice.step`). Recorded
 * once; a waiting step succeeds or fails with it. A child that ended before its creation was
 * recorded here (it ran inline inside its create) is linked now.
 */
export function childEnded(m: Machine, notice: ChildNotice): void {
  const s = m.state.steps.get(notice.step);
  const link = m.state.children.find((c) => c.run_id === notice.run_id);
  if (link && runEnded(link.status)) return;
  if (!link) {
    if (!s || !running(m, notice.step)) return;
    m.emit("child.started", { step: notice.step, run_id: notice.run_id, wait: waitsForChild(s), status: notice.status });
  } else {
    m.emit("child.ended", { step: notice.step, run_id: notice.run_id, status: notice.status });
  }
  const current = running(m, notice.step);
  if (!current || !linked(m, current, notice.run_id)) return;
  if (!waitsForChild(current)) succeed(m, current, { run_id: notice.run_id });
  else endWithChild(m, current, notice);
  advance(m);
}

const succeed = (m: Machine, s: StepState, output: unknown) => succeedWork(m, { kind: "step", s }, output);

/** A waiting step ends as its child did: completed succeeds with its result; failed or cancelled fails, naming the child. */
function endWithChild(m: Machine, s: StepState, child: ChildOutcome): void {
  if (child.status === "completed") {
    succeed(m, s, { run_id: child.run_id, status: child.status, result: child.result ?? null });
    return;
  }
  const why = child.error ? `${child.error.message} (${child.error.code})` : "no reason given";
  const error =
    child.status === "cancelled"
      ? stepError("child_cancelled", `Child run ${child.run_id} was cancelled: ${why}`)
      : stepError("child_failed", `Child run ${child.run_id} failed: ${why}`);
  m.emit("step.failed", { step: s.step_number, attempt: s.attempt, error });
}

/** Child runs that this run, now ended failed or cancelled, still has to cancel (those not known to have ended). */
export function childrenToCancel(state: RunState): string[] {
  if (state.status !== "failed" && state.status !== "cancelled") return [];
  return state.children.filter((c) => !runEnded(c.status)).map((c) => c.run_id);
}
