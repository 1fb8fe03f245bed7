import { decideRetry } from "../execution/retry-policy";
import { dispatchTimeout, leaseMargin } from "../execution/run-options";
import { stepError, type StepError } from "../lib/step-error";
import { ReferenceError, resolveReferences } from "../planner/references";
import { getTool } from "../tools/registry";
import type { RunEventData, RunEventType } from "./run-events";
import { TERMINAL_RUN, TERMINAL_STEP, type RunState, type StepState } from "./run-state";

/**
 * The run's decisions, as pure functions of its state: which steps to dispatch, what an outcome
 * or an expired deadline means. They only emit events (which the run object appends and folds)
 * and name the step attempts to send to the queue; they do no I/O of their own.
 */
export interface Machine {
  state: RunState;
  now: number;
  emit<T extends RunEventType>(type: T, data: RunEventData[T]): void;
  /** Queue a step attempt for a consumer (sent by the run object after the command). */
  send(step: number, attempt: number, tool: string): void;
}

const inFlight = (state: RunState) => [...state.steps.values()].filter((s) => s.status === "queued" || s.status === "running").length;

function outputs(state: RunState): Map<number, unknown> {
  const out = new Map<number, unknown>();
  for (const s of state.steps.values()) if (s.status === "succeeded") out.set(s.step_number, s.output);
  return out;
}

function dispatch(m: Machine, s: StepState): void {
  const attempt = s.attempt + 1;
  if (getTool(s.tool)?.executor === "timer") {
    // A durable timer: the run object starts it itself and its alarm finishes it.
    const input = resolveOrFail(m, s, attempt);
    if (input === undefined) return;
    const seconds = Number((input as { seconds?: unknown }).seconds);
    m.emit("step.started", { step: s.step_number, attempt, input, wake_at: m.now + Math.round(seconds * 1000) });
    return;
  }
  m.emit("step.queued", { step: s.step_number, attempt, dispatch_deadline: m.now + dispatchTimeout(m.state.options.step_timeout_ms) });
  m.send(s.step_number, attempt, s.tool);
}

/** Resolves a step's references; a reference that cannot resolve fails the step for good. */
function resolveOrFail(m: Machine, s: StepState, attempt: number): unknown {
  try {
    return resolveReferences(s.input, outputs(m.state));
  } catch (err) {
    if (!(err instanceof ReferenceError)) throw err;
    m.emit("step.failed", { step: s.step_number, attempt, error: stepError("reference_unresolved", err.message) });
    return undefined;
  }
}

/** Moves the run forward: skips what cannot run, dispatches what can, and ends the run when nothing is left. */
export function advance(m: Machine): void {
  const { state } = m;
  if (TERMINAL_RUN.has(state.status) || !state.plan) return;
  if (state.status === "pending") m.emit("run.started", {});
  const steps = [...state.steps.values()].sort((a, b) => a.step_number - b.step_number);

  // Skip dependants of failed or skipped steps, to a fixed point (skips cascade down the DAG).
  for (let changed = true; changed; ) {
    changed = false;
    for (const s of steps) {
      if (s.status !== "pending" || s.retry_at !== null) continue;
      if (s.depends_on.some((d) => ["failed", "skipped"].includes(state.steps.get(d)!.status))) {
        m.emit("step.skipped", { step: s.step_number, reason: "dependency_failed" });
        changed = true;
      }
    }
  }

  const failed = steps.some((s) => s.status === "failed");
  if (failed) {
    // After a failure nothing new starts; what is already in flight finishes and is recorded.
    for (const s of steps) if (s.status === "pending" && s.retry_at === null) m.emit("step.skipped", { step: s.step_number, reason: "run_failed" });
  } else {
    for (const s of steps) {
      if (inFlight(state) >= state.options.max_parallelism) break;
      if (s.status === "pending" && s.retry_at === null && s.depends_on.every((d) => state.steps.get(d)!.status === "succeeded")) dispatch(m, s);
    }
  }

  if (!steps.every((s) => TERMINAL_STEP.has(s.status))) return;
  const firstFailure = steps.find((s) => s.status === "failed");
  if (firstFailure) {
    const err = firstFailure.error ?? stepError("step_failed", "A step failed.");
    m.emit("run.failed", {
      error: { code: err.code, message: `Step ${firstFailure.step_number} (${firstFailure.tool}) failed: ${err.message}`, step_number: firstFailure.step_number },
    });
  } else {
    const last = steps.at(-1)!;
    m.emit("run.completed", { result: last.output });
  }
}

export type ClaimResult =
  | { ok: true; tool: string; input: unknown; timeout_ms: number; trace_id: string; tenant: string }
  | { ok: false; reason: "run_finished" | "not_queued" | "stale_attempt" | "unknown_step" };

/** A consumer asks to start (step, attempt). Only the first claim of the current attempt wins. */
export function claim(m: Machine, stepNumber: number, attempt: number): ClaimResult {
  const s = m.state.steps.get(stepNumber);
  if (!s) return { ok: false, reason: "unknown_step" };
  if (TERMINAL_RUN.has(m.state.status)) return { ok: false, reason: "run_finished" };
  if (s.attempt !== attempt) return { ok: false, reason: "stale_attempt" };
  if (s.status !== "queued") return { ok: false, reason: "not_queued" };
  const input = resolveOrFail(m, s, attempt);
  if (input === undefined) {
    advance(m);
    return { ok: false, reason: "not_queued" };
  }
  const timeout = m.state.options.step_timeout_ms;
  m.emit("step.started", { step: stepNumber, attempt, input, lease_until: m.now + timeout + leaseMargin(timeout) });
  return { ok: true, tool: s.tool, input, timeout_ms: timeout, trace_id: m.state.trace_id, tenant: m.state.tenant };
}

export type Outcome = { success: true; output: unknown } | { success: false; error: StepError };

/** Records a failed attempt: retry later, or fail the step for good. */
function failAttempt(m: Machine, s: StepState, attempt: number, error: StepError): void {
  const decision = decideRetry(error, s.attempts, m.state.options);
  if (decision.retry) {
    m.emit("step.retry_scheduled", { step: s.step_number, attempt, error, delay_ms: decision.delay_ms, retry_at: m.now + decision.delay_ms });
  } else {
    const message = decision.reason === "attempts_exhausted" ? `${error.message} (gave up after ${s.attempts} attempts)` : error.message;
    m.emit("step.failed", { step: s.step_number, attempt, error: { ...error, message } });
  }
}

export type ReportResult = { accepted: true } | { accepted: false; reason: "not_running" | "stale_attempt" | "unknown_step" };

/** A consumer reports how (step, attempt) went. Accepted once; late and duplicate reports are ignored. */
export interface BreakerOpened {
  tool: string;
  cooldown_ms: number;
  reason: string;
}

export function report(m: Machine, stepNumber: number, attempt: number, outcome: Outcome, opened?: BreakerOpened): ReportResult {
  const s = m.state.steps.get(stepNumber);
  if (!s) return { accepted: false, reason: "unknown_step" };
  if (s.attempt !== attempt) return { accepted: false, reason: "stale_attempt" };
  if (s.status !== "running") return { accepted: false, reason: "not_running" };
  if (outcome.success) {
    m.emit("step.succeeded", { step: stepNumber, attempt, output: outcome.output, duration_ms: Math.max(0, m.now - (s.started_ms ?? m.now)) });
  } else {
    failAttempt(m, s, attempt, outcome.error);
  }
  if (opened) m.emit("breaker.opened", opened);
  advance(m);
  return { accepted: true };
}

/** The watchdog: acts on every deadline that has passed. */
export function fireDue(m: Machine): void {
  for (const s of m.state.steps.values()) {
    if (s.status === "running" && s.wake_at !== null && s.wake_at <= m.now) {
      m.emit("step.succeeded", { step: s.step_number, attempt: s.attempt, output: { slept_seconds: (s.resolved_input as { seconds: number }).seconds }, duration_ms: Math.max(0, m.now - (s.started_ms ?? m.now)) });
    } else if (s.status === "running" && s.lease_until !== null && s.lease_until <= m.now) {
      // The consumer holding this attempt is gone (or hopelessly late): take the step back.
      failAttempt(m, s, s.attempt, stepError("lease_expired", `No consumer reported attempt ${s.attempt} within its lease.`, { retryable: true }));
    } else if (s.status === "pending" && s.retry_at !== null && s.retry_at <= m.now) {
      if (![...m.state.steps.values()].some((o) => o.status === "failed")) dispatch(m, s);
      else m.emit("step.skipped", { step: s.step_number, reason: "run_failed" });
    } else if (s.status === "queued" && s.dispatch_deadline !== null && s.dispatch_deadline <= m.now) {
      // No consumer started it in time: the message may be lost. Claims dedupe if it was not.
      m.emit("step.redispatched", { step: s.step_number, attempt: s.attempt, dispatch_deadline: m.now + dispatchTimeout(m.state.options.step_timeout_ms), reason: "dispatch_timeout" });
      m.send(s.step_number, s.attempt, s.tool);
    }
  }
  advance(m);
}

/** The earliest deadline the watchdog must wake for, or null. */
export function nextDeadline(state: RunState): number | null {
  let next: number | null = null;
  for (const s of state.steps.values()) {
    for (const t of [s.dispatch_deadline, s.lease_until, s.retry_at, s.wake_at]) if (t !== null && (next === null || t < next)) next = t;
  }
  return next;
}

export type ControlResult = { ok: true } | { ok: false; code: "run_finished" | "run_not_resumable"; message: string };

export function cancel(m: Machine, reason: string): ControlResult {
  if (TERMINAL_RUN.has(m.state.status)) return { ok: false, code: "run_finished", message: `The run is already ${m.state.status}.` };
  for (const s of m.state.steps.values()) if (!TERMINAL_STEP.has(s.status)) m.emit("step.skipped", { step: s.step_number, reason: "cancelled" });
  m.emit("run.cancelled", { reason });
  return { ok: true };
}

export function resume(m: Machine): ControlResult {
  if (m.state.status !== "failed" && m.state.status !== "cancelled") {
    return { ok: false, code: "run_not_resumable", message: `Only failed or cancelled runs resume; this run is ${m.state.status}.` };
  }
  const again = [...m.state.steps.values()].filter((s) => s.status === "failed" || s.status === "skipped").map((s) => s.step_number);
  m.emit("run.resumed", { steps: again });
  advance(m);
  return { ok: true };
}

/** An open breaker turned the attempt away before it started: wait for it, keep the attempt budget. */
export function defer(m: Machine, stepNumber: number, attempt: number, retryAt: number, error: StepError): ReportResult {
  const s = m.state.steps.get(stepNumber);
  if (!s) return { accepted: false, reason: "unknown_step" };
  if (s.attempt !== attempt) return { accepted: false, reason: "stale_attempt" };
  if (s.status !== "queued" || TERMINAL_RUN.has(m.state.status)) return { accepted: false, reason: "not_running" };
  m.emit("step.deferred", { step: stepNumber, attempt, error, retry_at: Math.max(retryAt, m.now) });
  return { accepted: true };
}

/** A breaker half-opened or closed: steps waiting on it go now instead of at their retry time. */
export function breakerChanged(m: Machine, tool: string, state: "half_open" | "closed"): void {
  const waiting = [...m.state.steps.values()].filter((s) => s.tool === tool && s.status === "pending" && s.retry_at !== null && s.error?.code === "tool_unavailable");
  if (waiting.length === 0 || TERMINAL_RUN.has(m.state.status)) return;
  m.emit(state === "closed" ? "breaker.closed" : "breaker.half_opened", { tool });
  const failed = [...m.state.steps.values()].some((o) => o.status === "failed");
  for (const s of waiting) {
    if (failed) m.emit("step.skipped", { step: s.step_number, reason: "run_failed" });
    else dispatch(m, s);
  }
  advance(m);
}
