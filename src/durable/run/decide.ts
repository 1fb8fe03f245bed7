// The run's decisions, as pure functions of its state: which steps to start, what an outcome or an
// expired deadline means. They only emit events (which the run object appends and folds) and name
// the messages to send; they do no I/O of their own. Inline tools run here, inside the decision,
// because they are pure and bounded.
import { decideRetry } from "../../execution/retry-policy";
import { DEFAULT_RUN_TIMEOUT_MS, leaseFor, MAX_RUN_TIMEOUT_MS, type RunOptions } from "../../execution/run-options";
import { stepMessage, type BreakerOpened, type PreflightResult, type ReportResult, type StepMessage, type StepReport } from "../../execution/step-protocol";
import type { Json } from "../../lib/json";
import { invalidInput, stepError, waitsOnBreaker, type StepError } from "../../execution/step-error";
import { UnresolvedReferenceError, referenceMismatch, resolveReferences } from "../../planner/references";
import { getTool } from "../../tools/registry";
import type { RunEventData, RunEventType } from "./run-events";
import { TERMINAL_RUN, TERMINAL_STEP, type ReceivedSignal, type RunState, type StepState } from "./run-state";

export interface Machine {
  state: RunState;
  /** The command's time (epoch ms): every deadline it sets or checks uses this. */
  now: number;
  /** Reads the clock again, to time an inline tool. */
  clock(): number;
  /** Appends and folds an event; returns its seq. */
  emit<T extends RunEventType>(type: T, data: RunEventData[T]): number;
  /** A message for the queue (sent by the run object after the decision). */
  send(message: StepMessage): void;
}

/** Steps that hold one of the run's max_parallelism slots: started and not yet ended. */
const inFlight = (state: RunState) => [...state.steps.values()].filter((s) => s.status === "running" || s.status === "queued").length;
const ordered = (state: RunState) => [...state.steps.values()].sort((a, b) => a.step_number - b.step_number);
const anyFailed = (state: RunState) => [...state.steps.values()].some((s) => s.status === "failed");

function outputs(state: RunState): Map<number, unknown> {
  const out = new Map<number, unknown>();
  for (const s of state.steps.values()) if (s.status === "succeeded") out.set(s.step_number, s.output);
  return out;
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
    if (ready(m, s)) start(m, s);
  }
}

/** Resolves the step's input and starts the attempt (by default the next one) on its tool's executor. */
function start(m: Machine, s: StepState, attempt = s.attempt + 1): void {
  let input: unknown;
  try {
    input = resolveReferences(s.input, outputs(m.state));
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
    case "queue": {
      const lease_until = m.now + leaseFor(timeout);
      const dispatch = m.emit("step.started", { step: s.step_number, attempt, input, lease_until, executor: "queue" });
      const { run_id, tenant, trace_id } = m.state;
      m.send(stepMessage({ run_id, tenant, step: s.step_number, attempt, dispatch, tool: s.tool, timeout_ms: timeout, lease_until, trace_id }, input as Json));
      return;
    }
  }
}

/**
 * Moves the run forward: skips what cannot run, starts what can (inline steps end at once and may
 * free their dependants, so this repeats until nothing changes), and ends the run when nothing is left.
 */
export function advance(m: Machine): void {
  const { state } = m;
  if (TERMINAL_RUN.has(state.status) || !state.plan) return;
  if (state.status === "pending") m.emit("run.started", {});
  for (let before = -1; before !== state.last_seq;) {
    before = state.last_seq;
    skipUnreachable(m);
    if (anyFailed(state)) {
      // After a failure nothing new starts; what is already in flight finishes and is recorded. A
      // waiting step holds nothing in flight, so nobody is left to decide for a run that failed.
      for (const s of ordered(state))
        if (s.status === "pending" || s.status === "waiting") m.emit("step.skipped", { step: s.step_number, reason: "run_failed" });
    } else {
      dispatchReady(m);
    }
  }
  const steps = ordered(state);
  if (!steps.every((s) => TERMINAL_STEP.has(s.status))) return;
  const firstFailure = steps.find((s) => s.status === "failed");
  if (firstFailure) {
    const err = firstFailure.error ?? stepError("step_failed", "A step failed.");
    m.emit("run.failed", {
      error: {
        code: err.code,
        message: `Step ${firstFailure.step_number} (${firstFailure.tool}) failed: ${err.message}`,
        step_number: firstFailure.step_number,
      },
    });
  } else {
    m.emit("run.completed", { result: steps.at(-1)!.output });
  }
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
function failAttempt(m: Machine, s: StepState, attempt: number, error: StepError, queued: { queue_ms?: number } = {}): void {
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
  if (s.dispatch_seq !== dispatch || s.status !== "running") return { go: false, reason: "stale_dispatch" };
  return { go: true };
}

/**
 * An open breaker turned the dispatch away before the tool ran: the step waits until `retryAt`
 * without using up an attempt, unless it has waited max_deferral_ms already.
 */
export function defer(m: Machine, step: number, dispatch: number, retryAt: number, error: StepError): ReportResult {
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
  const waiting = ordered(m.state).filter((s) => s.tool === tool && s.status === "pending" && s.retry_at !== null && waitsOnBreaker(s.error));
  if (waiting.length === 0) return;
  m.emit(change === "closed" ? "breaker.closed" : "breaker.half_opened", { tool, steps: waiting.map((s) => s.step_number) });
  advance(m);
}

/** The watchdog: acts on every deadline that has passed. */
export function fireDue(m: Machine): void {
  const { state } = m;
  if (TERMINAL_RUN.has(state.status)) return;
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
  m.emit("run.failed", { error: { code: "run_timeout", message: error.message } });
}

/**
 * The earliest deadline the watchdog must wake for, or null. A retry whose time has come is due
 * now if a parallelism slot is free (the alarm may simply not have fired yet); while every slot is
 * taken it is no deadline, since a slot frees on a report or an expired lease, which wake the run anyway.
 */
export function nextDeadline(state: RunState, now: number): number | null {
  if (TERMINAL_RUN.has(state.status)) return null;
  const slotFree = inFlight(state) < state.options.max_parallelism;
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
function takeSignal(m: Machine, s: StepState, received: ReceivedSignal): void {
  m.emit("step.succeeded", {
    step: s.step_number,
    attempt: s.attempt,
    output: received.payload,
    duration_ms: Math.max(0, m.now - (s.started_ms ?? m.now)),
    signal: received.seq,
  });
}

export type SignalResult = { ok: true; seq: number; delivered_to: number | null } | { ok: false; code: "run_finished"; message: string };

/**
 * A signal sent to the run. It is always recorded; the waiting Wait.signal step for its name (the
 * lowest-numbered, if several) takes it at once, or it is kept for a step that waits later.
 */
export function signal(m: Machine, name: string, payload: unknown): SignalResult {
  if (TERMINAL_RUN.has(m.state.status)) return { ok: false, code: "run_finished", message: `The run is already ${m.state.status}; it takes no signals.` };
  const seq = m.emit("signal.received", { name, payload });
  const received = m.state.signals.find((g) => g.seq === seq)!;
  const waiting = ordered(m.state).find((s) => s.status === "waiting" && waitsForSignal(s, name));
  if (!waiting) return { ok: true, seq, delivered_to: null };
  takeSignal(m, waiting, received);
  advance(m);
  return { ok: true, seq, delivered_to: waiting.step_number };
}

const waitsForSignal = (s: StepState, name: string): boolean => {
  const tool = getTool(s.tool);
  return tool?.executor === "await" && tool.kind === "signal" && (s.resolved_input as { name?: unknown } | null)?.name === name;
};

export interface Decision {
  decision: "approve" | "reject";
  comment: string | null;
  /** Who decided: the API key's id. */
  by: string;
}

export type DecisionResult =
  | { ok: true }
  | { ok: false; code: "step_not_found"; message: string }
  | { ok: false; code: "run_finished" | "step_not_waiting" | "decision_too_late"; message: string };

/**
 * A person's decision on a waiting approval. It counts once: a second decision, one for a step
 * that is not a waiting approval, or one that comes after the timeout is refused (and a timeout
 * the alarm has not acted on yet is applied here first).
 */
export function decideApproval(m: Machine, step: number, d: Decision): DecisionResult {
  const s = m.state.steps.get(step);
  if (!s) return { ok: false, code: "step_not_found", message: `This run has no step ${step}.` };
  const tool = getTool(s.tool);
  if (tool?.executor !== "await" || tool.kind !== "approval")
    return { ok: false, code: "step_not_waiting", message: `Step ${step} is ${s.tool}, not an approval.` };
  if (s.status === "waiting" && s.wait_until !== null && s.wait_until <= m.now) {
    fireDue(m);
    return { ok: false, code: "decision_too_late", message: `Step ${step}'s approval timed out before this decision came.` };
  }
  if (TERMINAL_RUN.has(m.state.status)) return { ok: false, code: "run_finished", message: `The run is already ${m.state.status}.` };
  if (s.status !== "waiting") {
    const decided = s.status === "succeeded" || (s.status === "failed" && s.error?.code.startsWith("approval_"));
    return {
      ok: false,
      code: "step_not_waiting",
      message: decided ? `Step ${step} was decided already.` : `Step ${step} is ${s.status}; only a waiting approval takes a decision.`,
    };
  }
  m.emit("step.decided", { step, attempt: s.attempt, decision: d.decision, comment: d.comment, decided_by: d.by });
  advance(m);
  return { ok: true };
}

export type ControlResult = { ok: true } | { ok: false; code: "run_finished" | "run_not_resumable"; message: string };

export function cancel(m: Machine, reason: string): ControlResult {
  if (TERMINAL_RUN.has(m.state.status)) return { ok: false, code: "run_finished", message: `The run is already ${m.state.status}.` };
  for (const s of ordered(m.state)) if (!TERMINAL_STEP.has(s.status)) m.emit("step.skipped", { step: s.step_number, reason: "cancelled" });
  m.emit("run.cancelled", { reason });
  return { ok: true };
}

export function resume(m: Machine): ControlResult {
  if (m.state.status !== "failed" && m.state.status !== "cancelled") {
    return { ok: false, code: "run_not_resumable", message: `Only failed or cancelled runs resume; this run is ${m.state.status}.` };
  }
  const again = ordered(m.state)
    .filter((s) => s.status === "failed" || s.status === "skipped")
    .map((s) => s.step_number);
  m.emit("run.resumed", { steps: again });
  advance(m);
  return { ok: true };
}

/**
 * The options a run is created with. A plan that waits (approvals, signals) and gives no
 * run_timeout_ms of its own gets a deadline past its waits, so each wait's own timeout (and its
 * on_timeout) decides it: the default day for the work, plus the longest each wait may take (a
 * timeout that is a reference counts as the longest allowed), at most MAX_RUN_TIMEOUT_MS. An
 * explicit run_timeout_ms always holds. Written into run.created, so the log says it.
 */
export function optionsFor(options: RunOptions, steps: readonly { tool: string; input: Record<string, unknown> }[]): RunOptions {
  if (options.run_timeout_ms !== undefined) return options;
  let waits = 0;
  for (const s of steps) {
    const tool = getTool(s.tool);
    if (tool?.executor !== "await") continue;
    const parsed = tool.input_schema.safeParse(s.input);
    waits += parsed.success ? tool.timeoutMs(parsed.data) : MAX_RUN_TIMEOUT_MS;
  }
  return waits === 0 ? options : { ...options, run_timeout_ms: Math.min(MAX_RUN_TIMEOUT_MS, DEFAULT_RUN_TIMEOUT_MS + waits) };
}

/** Will a run of these steps end inside the command that creates it? (every step is an inline tool) */
export function endsInline(steps: readonly { tool: string }[]): boolean {
  return steps.every((s) => getTool(s.tool)?.executor === "inline");
}
