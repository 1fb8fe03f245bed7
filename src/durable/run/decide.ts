// The run's decisions, as pure functions of its state: which steps to start, what an outcome or an
// expired deadline means. They only emit events (which the run object appends and folds) and name
// the messages to send; they do no I/O of their own. Inline tools run here, inside the decision,
// because they are pure and bounded.
import { decideRetry } from "../../execution/retry-policy";
import { leaseFor } from "../../execution/run-options";
import { stepMessage, type BreakerOpened, type PreflightResult, type ReportResult, type StepReport } from "../../execution/step-protocol";
import type { Json } from "../../lib/json";
import { invalidInput, stepError, waitsOnBreaker, type StepError } from "../../execution/step-error";
import { UnresolvedReferenceError, referenceMismatch, resolveStepInput } from "../../planner/references";
import { breakerOf, getTool } from "../../tools/registry";
import { startChild } from "./children";
import { advanceCompensation, beginCompensation, expireUndos, failUndo, stepKey, timeOutUndos, undoDeadlines, undoOf } from "./compensation";
import type { Machine } from "./machine";
import type { RunError } from "./run-events";
import { TERMINAL_RUN, TERMINAL_STEP, stepOutputs, type ReceivedSignal, type RunState, type StepState } from "./run-state";

export type { Machine } from "./machine";

/** Steps that hold one of the run's max_parallelism slots: started and not yet ended. */
const inFlight = (state: RunState) => [...state.steps.values()].filter((s) => s.status === "running" || s.status === "queued").length;
export const ordered = (state: RunState) => [...state.steps.values()].sort((a, b) => a.step_number - b.step_number);
const anyFailed = (state: RunState) => [...state.steps.values()].some((s) => s.status === "failed");

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
    if (ready(m, s)) start(m, s);
  }
}

/** Resolves the step's input and starts the attempt (by default the next one) on its tool's executor. */
function start(m: Machine, s: StepState, attempt = s.attempt + 1): void {
  let input: unknown;
  try {
    input = resolveStepInput(s.tool, s.input, stepOutputs(m.state));
  } catch (err) {
    if (!(err instanceof UnresolvedReferenceError)) throw err;
    m.emit("step.failed", { step: s.step_number, attempt, error: stepError("reference_unresolved", err.message) });
    return;
  }
  const tool = getTool(s.tool);
  if (!tool) {
    m.emit("step.failed", { step: s.step_number, attempt, error: stepError("unknown_tool", `No tool is named "${s.tool}".`) });
    return;
  }
  const parsed = tool.input_schema.safeParse(input);
  if (!parsed.success) {
    // Validated here for every executor: an input that cannot work costs no queue hop.
    m.emit("step.started", { step: s.step_number, attempt, input, executor: tool.executor });
    // Said in the plan's terms when a reference brought the wrong kind of value.
    const issues = parsed.error.issues.map((i) => ({ path: i.path, message: referenceMismatch(s.tool, s.input, input, i) ?? i.message }));
    failAttempt(m, s, attempt, invalidInput(s.tool, issues));
    return;
  }
  const timeout = m.state.options.step_timeout_ms;
  switch (tool.executor) {
    case "inline": {
      m.emit("step.started", { step: s.step_number, attempt, input, executor: "inline" });
      const began = m.clock();
      const result = tool.run(parsed.data);
      const took = Math.max(0, m.clock() - began);
      // A synchronous tool cannot be interrupted; its bounds keep it short, and an attempt that
      // still overran its timeout is failed as one that timed out.
      if (took > timeout) failAttempt(m, s, attempt, stepError("step_timeout", `${s.tool} did not finish within ${timeout} ms (took ${took} ms).`));
      else if (result.success) m.emit("step.succeeded", { step: s.step_number, attempt, output: result.output, duration_ms: took });
      else failAttempt(m, s, attempt, result.error);
      return;
    }
    case "timer":
      m.emit("step.started", { step: s.step_number, attempt, input, wake_at: m.now + tool.durationMs(parsed.data), executor: "timer" });
      return;
    case "await": {
      // Nothing is sent: the step waits on the run object's alarm for its answer or its timeout.
      m.emit("step.waiting", { step: s.step_number, attempt, input, kind: tool.kind, until: m.now + tool.timeoutMs(parsed.data) });
      // A signal that came before the step waited was kept for it.
      const name = tool.signalName?.(parsed.data);
      const buffered = name === undefined ? undefined : m.state.signals.find((g) => g.name === name && g.taken_by === null);
      if (buffered) takeSignal(m, m.state.steps.get(s.step_number)!, buffered);
      return;
    }
    case "child":
      startChild(m, s, attempt, input);
      return;
    case "queue": {
      const lease_until = m.now + leaseFor(timeout);
      const { run_id, tenant, trace_id } = m.state;
      // A step run again after its effect was undone acts under a new key; otherwise the default one.
      const key = s.undone ? { idempotency_key: stepKey(run_id, s) } : {};
      const dispatch = m.emit("step.started", { step: s.step_number, attempt, input, lease_until, executor: "queue", ...key });
      m.send(
        stepMessage(
          { run_id, tenant, step: s.step_number, attempt, dispatch, tool: s.tool, timeout_ms: timeout, lease_until, trace_id, ...key },
          input as Json,
        ),
      );
      return;
    }
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
    } else {
      dispatchReady(m);
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

/** Records a failed attempt: retry later, or fail the step for good. */
export function failAttempt(m: Machine, s: StepState, attempt: number, error: StepError, queued: { queue_ms?: number } = {}): void {
  const decision = decideRetry(error, s.attempts, m.state.options);
  if (decision.retry) {
    m.emit("step.retry_scheduled", { step: s.step_number, attempt, error, delay_ms: decision.delay_ms, retry_at: m.now + decision.delay_ms, ...queued });
  } else {
    const message = decision.reason === "attempts_exhausted" ? `${error.message} (gave up after ${s.attempts} attempts)` : error.message;
    m.emit("step.failed", { step: s.step_number, attempt, error: { ...error, message }, ...queued });
  }
}

/** The dispatch a consumer names, if it is the step's current one and still running. */
function current(m: Machine, step: number, dispatch: number): { s: StepState } | { reason: "unknown_step" | "stale_dispatch" | "not_running" } {
  const s = m.state.steps.get(step);
  if (!s) return { reason: "unknown_step" };
  if (s.dispatch_seq !== dispatch) return { reason: "stale_dispatch" };
  if (s.status !== "running" || TERMINAL_RUN.has(m.state.status)) return { reason: "not_running" };
  return { s };
}

/** Consumers report how dispatches went. Each is accepted once; late and duplicate reports are ignored. */
export function report(m: Machine, reports: readonly StepReport[]): ReportResult[] {
  const results = reports.map((r): ReportResult => {
    const undo = undoOf(m.state, r.step, r.dispatch);
    if (undo) {
      if (undo.status !== "running" || TERMINAL_RUN.has(m.state.status)) return { accepted: false, reason: "not_running" };
      if (r.outcome.success)
        m.emit("step.compensated", {
          step: r.step,
          attempt: undo.attempt,
          output: r.outcome.output,
          duration_ms: Math.max(0, m.now - (undo.started_ms ?? m.now)),
        });
      else failUndo(m, undo, undo.attempt, r.outcome.error);
      if (r.opened) recordOpened(m, r.opened);
      return { accepted: true };
    }
    const found = current(m, r.step, r.dispatch);
    if (!("s" in found)) return { accepted: false, reason: found.reason };
    const { s } = found;
    const queued = r.queue_ms !== undefined ? { queue_ms: r.queue_ms } : {};
    if (r.outcome.success)
      m.emit("step.succeeded", {
        step: r.step,
        attempt: s.attempt,
        output: r.outcome.output,
        duration_ms: Math.max(0, m.now - (s.started_ms ?? m.now)),
        ...queued,
      });
    else failAttempt(m, s, s.attempt, r.outcome.error, queued);
    if (r.opened) recordOpened(m, r.opened);
    return { accepted: true };
  });
  // Only an accepted report changes anything; a stale one leaves the run exactly as it was.
  if (results.some((r) => r.accepted)) advance(m);
  return results;
}

const recordOpened = (m: Machine, opened: BreakerOpened) => m.emit("breaker.opened", opened);

/** Before a tool with side effects runs: is this dispatch still the step's current one? (no events) */
export function preflight(state: RunState, step: number, dispatch: number): PreflightResult {
  const s = state.steps.get(step);
  if (!s) return { go: false, reason: "unknown_step" };
  if (TERMINAL_RUN.has(state.status)) return { go: false, reason: "run_finished" };
  const undo = undoOf(state, step, dispatch);
  if (undo) return undo.status === "running" ? { go: true } : { go: false, reason: "stale_dispatch" };
  if (s.dispatch_seq !== dispatch || s.status !== "running") return { go: false, reason: "stale_dispatch" };
  // Cancelled asking for compensation: what has not begun does not begin (skipCancelled records it).
  if (state.cancelling !== null) return { go: false, reason: "cancelling" };
  return { go: true };
}

/** A dispatch the pre-flight check stopped because the run is being cancelled: it will never run. */
export function skipCancelled(m: Machine, step: number, dispatch: number): void {
  const s = m.state.steps.get(step);
  if (!s || s.dispatch_seq !== dispatch || s.status !== "running" || m.state.cancelling === null) return;
  m.emit("step.skipped", { step, reason: "cancelled" });
  advance(m);
}

/**
 * An open breaker turned the dispatch away before the tool ran: the step waits until `retryAt`
 * without using up an attempt, unless it has waited max_deferral_ms already.
 */
export function defer(m: Machine, step: number, dispatch: number, retryAt: number, error: StepError): ReportResult {
  const undo = undoOf(m.state, step, dispatch);
  if (undo) {
    // An undo waits on the breaker for as long as compensation's own deadline allows.
    if (undo.status !== "running" || TERMINAL_RUN.has(m.state.status)) return { accepted: false, reason: "not_running" };
    m.emit("step.compensation_failed", { step, attempt: undo.attempt, error, retry_at: Math.max(retryAt, m.now), deferred: true });
    advance(m);
    return { accepted: true };
  }
  const found = current(m, step, dispatch);
  if (!("s" in found)) return { accepted: false, reason: found.reason };
  const { s } = found;
  const limit = m.state.options.max_deferral_ms;
  const waited = m.now - (s.deferred_since ?? m.now);
  if (limit !== null && waited >= limit) {
    m.emit("step.failed", {
      step,
      attempt: s.attempt,
      error: stepError("tool_unavailable", `${s.tool} stayed unavailable for ${waited} ms, past this run's max_deferral_ms (${limit}).`),
    });
  } else {
    m.emit("step.deferred", { step, attempt: s.attempt, error, retry_at: Math.max(retryAt, m.now) });
  }
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
  if (state.compensation) {
    if (state.deadline !== null && state.deadline <= m.now) timeOutUndos(m);
    else expireUndos(m);
    advance(m);
    return;
  }
  if (state.deadline !== null && state.deadline <= m.now) {
    timeOut(m);
    return;
  }
  for (const s of ordered(state)) {
    if (s.status === "waiting" && s.wait_until !== null && s.wait_until <= m.now) {
      timeOutWait(m, s);
    } else if (s.status === "running" && s.wake_at !== null && s.wake_at <= m.now) {
      m.emit("step.succeeded", {
        step: s.step_number,
        attempt: s.attempt,
        output: { slept_seconds: (s.resolved_input as { seconds: number }).seconds },
        duration_ms: Math.max(0, m.now - (s.started_ms ?? m.now)),
      });
    } else if (s.status === "running" && s.lease_until !== null && s.lease_until <= m.now) {
      // The message was lost, or its consumer died or is hopelessly late: take the step back.
      failAttempt(m, s, s.attempt, stepError("lease_expired", `No consumer reported attempt ${s.attempt} within its lease.`));
    } else if (s.status === "queued" && s.dispatch_deadline !== null && s.dispatch_deadline <= m.now) {
      // Queued under the earlier protocol and never started: dispatch it again under this one.
      // (Its old message cannot count: reports must name the new dispatch.)
      if (inFlight(state) <= state.options.max_parallelism) start(m, s, s.attempt);
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

/**
 * The earliest deadline the watchdog must wake for, or null. A retry whose time has come is due
 * now if a parallelism slot is free (the alarm may simply not have fired yet); while every slot is
 * taken it is no deadline, since a slot frees on a report or an expired lease, which wake the run anyway.
 */
export function nextDeadline(state: RunState, now: number): number | null {
  if (TERMINAL_RUN.has(state.status)) return null;
  // A paused run starts nothing, so a due retry is no reason to wake; the resume starts it.
  const slotFree = inFlight(state) < state.options.max_parallelism && !state.paused;
  let next = state.deadline;
  const consider = (t: number | null) => {
    if (t !== null && (next === null || t < next)) next = t;
  };
  for (const s of state.steps.values()) {
    consider(s.dispatch_deadline);
    consider(s.lease_until);
    consider(s.wake_at);
    consider(s.wait_until);
    if (s.status === "pending" && s.retry_at !== null && (s.retry_at > now || slotFree)) consider(s.retry_at);
  }
  if (!state.paused) for (const t of undoDeadlines(state)) consider(t);
  return next;
}

/** A waiting step's deadline passed with no answer: an approval's on_timeout decides; a signal wait fails. */
function timeOutWait(m: Machine, s: StepState): void {
  const tool = getTool(s.tool);
  if (tool?.executor !== "await" || !tool.onTimeout) {
    const waited = Math.round((m.now - (s.started_ms ?? m.now)) / 1000);
    const name = (s.resolved_input as { name?: string } | null)?.name;
    m.emit("step.failed", { step: s.step_number, attempt: s.attempt, error: stepError("signal_timeout", `No signal "${name}" came within ${waited} s.`) });
    return;
  }
  // Its input parsed when the wait began.
  const decision = tool.onTimeout(tool.input_schema.parse(s.resolved_input));
  m.emit("step.decided", { step: s.step_number, attempt: s.attempt, decision, comment: null, decided_by: "timeout", timed_out: true });
}

/** A waiting Wait.signal step takes a signal: it succeeds with the payload. */
export function takeSignal(m: Machine, s: StepState, received: ReceivedSignal): void {
  m.emit("step.succeeded", {
    step: s.step_number,
    attempt: s.attempt,
    output: received.payload,
    duration_ms: Math.max(0, m.now - (s.started_ms ?? m.now)),
    signal: received.seq,
  });
}
