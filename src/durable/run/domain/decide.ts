// The run's decisions, as pure functions of its state: which work to start, what an outcome or an
// expired deadline means. They only emit events (which the run object appends and folds) and name
// the messages to send; they do no I/O of their own. How an attempt begins, ends and expires is the
// attempt protocol's (work.ts), and what each kind of step does is its executor's: nothing here
// asks which kind a step is.
import type { BreakerOpened, PreflightResult, ReportResult, StepReport } from "../../../execution/step-protocol";
import { leaseMargin } from "../../../execution/run-options";
import { stepError, waitsOnBreaker, type StepError } from "../../../execution/step-error";
import { breakerOf, getTool } from "../../../tools/registry";
import { traitsOf } from "../../../tools/tool";
import { advanceCompensation, beginCompensation, timeOutUndos } from "./compensation";
import type { RunError } from "./events";
import type { Machine } from "./machine";
import { anyFailed, inFlight, ordered } from "./queries";
import { TERMINAL_RUN, TERMINAL_STEP, type RunState, type StepState } from "./state";
import { executorOf, type WorkOps } from "./executors/index";
import { allWork, deadlineOf, defer as deferWork, expire, fail, failForGood, failIfWaitedTooLong, findWork, start, succeed } from "./work";

export type { Machine } from "./machine";

/** Is a consumer perhaps running this step's tool now (or, for an agent, one of its calls)? Only a queued attempt's effect can be under way outside the run. */
function effectInFlight(s: StepState): boolean {
  const tool = getTool(s.tool);
  return tool !== undefined && (traitsOf(tool).queued || (executorOf(tool).effectInFlight?.(s) ?? false));
}

/** The attempt protocol, for step kinds that start work of their own (an agent's calls). */
const OPS: WorkOps = { start: (m, w) => start(m, w), succeed: (m, w, output) => succeed(m, w, output), failForGood };

/** Steps that run work of their own (an agent's loop) move it on. */
function advanceLongSteps(m: Machine): void {
  for (const s of ordered(m.state)) {
    if (s.status !== "running" && s.status !== "waiting") continue;
    const tool = getTool(s.tool);
    if (tool) executorOf(tool).advance?.(m, s, OPS);
  }
}

/** A step whose executor runs work of its own (an agent): it ends with the run, once nothing of it acts outside. */
function longRunning(s: StepState): boolean {
  const tool = getTool(s.tool);
  return tool !== undefined && executorOf(tool).advance !== undefined;
}

/** A pending step may start when its retry time (if any) has come and its dependencies succeeded. */
function ready(m: Machine, s: StepState): boolean {
  return s.status === "pending" && (s.retry_at === null || s.retry_at <= m.now) && s.depends_on.every((d) => m.state.steps.get(d)!.status === "succeeded");
}

/**
 * The one place that starts steps: fresh ones, due retries and steps a breaker let go all come
 * through here, so max_parallelism holds for every one of them.
 */
function dispatchReady(m: Machine): void {
  for (const s of ordered(m.state)) {
    if (inFlight(m.state) >= m.state.options.max_parallelism) return;
    if (ready(m, s) && !failIfWaitedTooLong(m, { kind: "step", s })) start(m, { kind: "step", s });
  }
}

/**
 * Moves the run forward: skips what cannot run, starts what can (inline steps end at once and may
 * free their dependants, so this repeats until nothing changes), and ends the run when nothing is
 * left, compensating first when it failed (or was cancelled asking for it) with effects to undo.
 */
export function advance(m: Machine): void {
  const { state } = m;
  if (TERMINAL_RUN.has(state.status) || !state.plan) return;
  // Paused: outcomes are recorded as they come, and everything they would set going waits for the resume.
  if (state.paused) return;
  if (state.compensation) {
    if (advanceCompensation(m) === "done") finishRun(m, state.compensation.error);
    return;
  }
  if (state.status === "pending") m.emit("run.started", {});
  for (let before = -1; before !== state.last_seq;) {
    before = state.last_seq;
    skipUnreachable(m);
    if (anyFailed(state) || state.cancelling !== null) {
      // After a failure (or a cancel that compensates) nothing new starts; what is already in
      // flight finishes and is recorded. A waiting step holds nothing in flight, so nobody is left
      // to decide for a run that failed.
      const reason = state.cancelling !== null ? "cancelled" : "run_failed";
      for (const s of ordered(state)) if (s.status === "pending" || s.status === "waiting") m.emit("step.skipped", { step: s.step_number, reason });
      // A cancel waits only for work that may have an effect in flight (a queued attempt whose
      // consumer may be running the tool). A timer, a wait or a child's creation ends now, skipped;
      // a child already started is cancelled with the run (effects/family.ts).
      if (state.cancelling !== null)
        for (const s of ordered(state)) if (s.status === "running" && !effectInFlight(s)) m.emit("step.skipped", { step: s.step_number, reason: "cancelled" });
      // An agent's loop starts no new turn once the run failed: it ends when its calls in flight have.
      for (const s of ordered(state))
        if (s.status === "running" && longRunning(s) && !effectInFlight(s)) m.emit("step.skipped", { step: s.step_number, reason });
    } else {
      dispatchReady(m);
      advanceLongSteps(m);
    }
  }
  if (!ordered(state).every((s) => TERMINAL_STEP.has(s.status))) return;
  const error = runError(state);
  const compensate = state.cancelling !== null || (error !== null && state.options.on_failure === "compensate");
  if (compensate && beginCompensation(m, state.cancelling !== null ? "cancelled" : "run_failed", error)) {
    if (advanceCompensation(m) === "done") finishRun(m, error);
    return;
  }
  finishRun(m, error);
}

/** What a run whose steps have all ended fails with: its first failed step's error (null: none failed). */
function runError(state: RunState): RunError | null {
  const firstFailure = ordered(state).find((s) => s.status === "failed");
  if (!firstFailure) return null;
  const err = firstFailure.error ?? stepError("step_failed", "A step failed.");
  return { code: err.code, message: `Step ${firstFailure.step_number} (${firstFailure.tool}) failed: ${err.message}`, step_number: firstFailure.step_number };
}

/** The run's terminal event: cancelled if a cancel is under way, else failed with `error`, else completed. */
function finishRun(m: Machine, error: RunError | null): void {
  const steps = ordered(m.state);
  if (m.state.cancelling !== null) m.emit("run.cancelled", { reason: m.state.cancelling });
  else if (error) m.emit("run.failed", { error });
  else m.emit("run.completed", { result: steps.at(-1)!.output });
}

/** Skips dependants of failed or skipped steps, to a fixed point (skips cascade down the DAG). */
function skipUnreachable(m: Machine): void {
  for (let changed = true; changed;) {
    changed = false;
    for (const s of ordered(m.state)) {
      if (s.status !== "pending") continue;
      if (s.depends_on.some((d) => ["failed", "skipped"].includes(m.state.steps.get(d)!.status))) {
        m.emit("step.skipped", { step: s.step_number, reason: "dependency_failed" });
        changed = true;
      }
    }
  }
}

/** Consumers report how dispatches went. Each is accepted once; late and duplicate reports are ignored. */
export function report(m: Machine, reports: readonly StepReport[]): ReportResult[] {
  const results = reports.map((r): ReportResult => {
    const found = findWork(m.state, r.step, r.dispatch);
    if (!("work" in found)) return { accepted: false, reason: found.reason };
    const queued = r.queue_ms !== undefined ? { queue_ms: r.queue_ms } : {};
    if (r.outcome.success) succeed(m, found.work, r.outcome.output, queued);
    // A consumer reports lease_expired only for a message that reached it too late to start (the
    // tool never ran; today's consumers renew the lease instead, see renewLease, but a consumer of
    // the previous version may still be draining the queue after a deploy): the backoff protects no
    // upstream, and waiting for it would send the retry to the back of the backlog that made it
    // late. So it is tried again at once, in this command, which hands it to that consumer when it
    // offered to take work (continuation.ts).
    else fail(m, found.work, r.outcome.error, queued, r.outcome.error.code === "lease_expired");
    if (r.opened) recordOpened(m, r.opened);
    return { accepted: true };
  });
  // Only an accepted report changes anything; a stale one leaves the run exactly as it was.
  if (results.some((r) => r.accepted)) advance(m);
  return results;
}

const recordOpened = (m: Machine, opened: BreakerOpened) => m.emit("breaker.opened", opened);

/** Before a tool with side effects runs: is this dispatch still its work's current one? (no events) */
export function preflight(state: RunState, step: number, dispatch: number): PreflightResult {
  if (!state.steps.has(step)) return { go: false, reason: "unknown_step" };
  if (TERMINAL_RUN.has(state.status)) return { go: false, reason: "run_finished" };
  const found = findWork(state, step, dispatch);
  if (!("work" in found)) return { go: false, reason: "stale_dispatch" };
  // Cancelled asking for compensation: a step (or an agent's call) that has not begun does not begin (skipCancelled records it).
  if (found.work.kind !== "undo" && state.cancelling !== null) return { go: false, reason: "cancelling" };
  return { go: true };
}

/**
 * A message reached its consumer so late that less than the step's timeout is left of its lease
 * (it waited behind a backlog): rather than refuse it and retry the step (a new message at the
 * back of the same backlog), the run object renews the lease from now, so the attempt runs. Only
 * while the attempt is still this dispatch's and its lease has not passed: past it, the watchdog
 * has taken the attempt back, or is about to. Answers the lease (the new one, or the one it had if
 * that was long enough), or null when the attempt cannot run.
 */
export function renewLease(m: Machine, step: number, dispatch: number, timeoutMs: number): number | null {
  const found = findWork(m.state, step, dispatch);
  if (!("work" in found)) return null;
  const w = found.work.s;
  if (w.lease_until === null || w.lease_until <= m.now) return null;
  const lease_until = m.now + timeoutMs + leaseMargin(timeoutMs);
  if (lease_until <= w.lease_until) return w.lease_until;
  m.emit("step.lease_renewed", { step, dispatch, lease_until });
  return lease_until;
}

/** A dispatch the pre-flight check stopped because the run is being cancelled: it will never run. */
export function skipCancelled(m: Machine, step: number, dispatch: number): void {
  const found = findWork(m.state, step, dispatch);
  if (!("work" in found) || m.state.cancelling === null || found.work.kind === "undo") return;
  const { work } = found;
  if (work.kind === "step") m.emit("step.skipped", { step, reason: "cancelled" });
  else failForGood(m, work, work.s.attempt, stepError("cancelled", "The run was cancelled before this call began."));
  advance(m);
}

/** An open breaker turned the dispatch away before the tool ran (see work.ts's defer). */
export function defer(m: Machine, step: number, dispatch: number, retryAt: number, error: StepError): ReportResult {
  const found = findWork(m.state, step, dispatch);
  if (!("work" in found)) return { accepted: false, reason: found.reason };
  deferWork(m, found.work, retryAt, error);
  advance(m);
  return { accepted: true };
}

/** A breaker half-opened or closed: steps waiting on it may go now, as slots allow. */
export function breakerChanged(m: Machine, tool: string, change: "half_open" | "closed"): void {
  if (TERMINAL_RUN.has(m.state.status)) return;
  const waiting = ordered(m.state).filter((s) => breakerOf(s.tool) === tool && s.status === "pending" && s.retry_at !== null && waitsOnBreaker(s.error));
  if (waiting.length === 0) return;
  m.emit(change === "closed" ? "breaker.closed" : "breaker.half_opened", { tool, steps: waiting.map((s) => s.step_number) });
  advance(m);
}

/** The watchdog: acts on every deadline that has passed. */
export function fireDue(m: Machine): void {
  const { state } = m;
  if (TERMINAL_RUN.has(state.status)) return;
  if (state.deadline !== null && state.deadline <= m.now) {
    if (state.compensation) timeOutUndos(m);
    else return timeOut(m);
  }
  for (const work of allWork(state)) {
    const due = deadlineOf(work.s);
    if (due !== null && due <= m.now) expire(m, work);
    else if (work.kind === "step" && work.s.status === "queued" && work.s.dispatch_deadline !== null && work.s.dispatch_deadline <= m.now) {
      // Queued under the earlier protocol and never started: dispatch it again under this one.
      // (Its old message cannot count: reports must name the new dispatch.)
      if (inFlight(state) <= state.options.max_parallelism) start(m, work, work.s.attempt);
    }
  }
  // Due retries start here, through the one dispatching function.
  advance(m);
}

/** The run passed its deadline: whatever it waits on, it fails with run_timeout. */
function timeOut(m: Machine): void {
  const limit = m.state.options.run_timeout_ms;
  const error = stepError("run_timeout", `The run did not finish within its run_timeout_ms (${limit} ms).`);
  for (const s of ordered(m.state)) {
    if (s.status === "running" || s.status === "queued" || s.status === "waiting") m.emit("step.failed", { step: s.step_number, attempt: s.attempt, error });
    else if (s.status === "pending") m.emit("step.skipped", { step: s.step_number, reason: "run_timeout" });
  }
  const failure = { code: "run_timeout", message: error.message };
  const compensate = m.state.cancelling !== null || m.state.options.on_failure === "compensate";
  if (compensate && beginCompensation(m, "run_failed", failure)) advance(m);
  else m.emit("run.failed", { error: failure });
}

/** Whether a queued attempt's resend time has come: the run object then looks at the step queue first (Machine.queue). */
export function resendDue(state: RunState, now: number): boolean {
  if (TERMINAL_RUN.has(state.status)) return false;
  for (const work of allWork(state)) if (work.s.resend_at !== null && work.s.resend_at <= now) return true;
  return false;
}

/**
 * The earliest deadline the watchdog must wake for, or null: the run's own, each running or
 * waiting attempt's (as its executor says), and due retries. A step's retry whose time has come is
 * due now if a parallelism slot is free (the alarm may simply not have fired yet); while every slot
 * is taken it is no deadline, since a slot frees on a report or an expired lease, which wake the run anyway.
 */
export function nextDeadline(state: RunState, now: number): number | null {
  if (TERMINAL_RUN.has(state.status)) return null;
  // A paused run starts nothing, so a due retry is no reason to wake; the resume starts it.
  const slotFree = inFlight(state) < state.options.max_parallelism && !state.paused;
  let next = state.deadline;
  const consider = (t: number | null) => {
    if (t !== null && (next === null || t < next)) next = t;
  };
  for (const work of allWork(state)) {
    const w = work.s;
    if (work.kind === "undo" && state.paused) continue;
    // A lease is watched even while paused (a lost message is still lost).
    consider(deadlineOf(w));
    if (work.kind === "step") consider(work.s.dispatch_deadline);
    if (w.status !== "pending" || w.retry_at === null) continue;
    // A due retry wakes the watchdog only if it can start: a step needs a free slot, an agent's
    // call or model call a run that is not paused (an undo always can).
    const canStart = work.kind === "undo" || (work.kind === "step" ? slotFree : !state.paused);
    if (w.retry_at > now || canStart) consider(w.retry_at);
  }
  return next;
}
