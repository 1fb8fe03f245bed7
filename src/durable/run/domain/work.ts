// The one attempt protocol. Everything a run attempts durably, a plan step or the undo of one (and
// next a model call), begins, leases, reports, fails, retries, defers and expires through these
// functions. What differs between kinds of work is only which events record it (WORK_EVENTS);
// what differs between kinds of step is the executor (executors/), asked through one interface.
import { decideRetry } from "../../../execution/retry-policy";
import { byteLength } from "../../../lib/bytes";
import { invalidInput, stepError, waitsOnBreaker, type StepError } from "../../../execution/step-error";
import { UnresolvedReferenceError, referenceMismatch, resolveStepInput } from "../../../planner/references";
import { getTool } from "../../../tools/registry";
import { traitsOf, type Tool } from "../../../tools/tool";
import type { BeginFields } from "./executors/executor";
import { executorOf, type Attempt, type Work } from "./executors/index";
import type { Machine } from "./machine";
import { stepKey } from "./queries";
import { TERMINAL_RUN, stepOutputs, type AttemptState, type RunState } from "./state";

export type { Work } from "./executors/index";

type Extra = { queue_ms?: number };

/** How each kind of work is recorded: the same protocol, told in its own events. */
const WORK_EVENTS = {
  step: {
    begin: (m: Machine, step: number, attempt: number, input: unknown, executor: Tool["executor"], f: BeginFields) =>
      m.emit("step.started", { step, attempt, input, executor, ...f }),
    succeed: (m: Machine, step: number, attempt: number, output: unknown, duration_ms: number, x: Extra & { signal?: number }) =>
      m.emit("step.succeeded", { step, attempt, output, duration_ms, ...x }),
    retry: (m: Machine, step: number, attempt: number, error: StepError, delay_ms: number, x: Extra) =>
      m.emit("step.retry_scheduled", { step, attempt, error, delay_ms, retry_at: m.now + delay_ms, ...x }),
    fail: (m: Machine, step: number, attempt: number, error: StepError, x: Extra) => m.emit("step.failed", { step, attempt, error, ...x }),
    defer: (m: Machine, step: number, attempt: number, error: StepError, retry_at: number) => m.emit("step.deferred", { step, attempt, error, retry_at }),
  },
  undo: {
    begin: (m: Machine, step: number, attempt: number, input: unknown, executor: Tool["executor"], f: BeginFields) =>
      m.emit("compensation.step_started", { step, attempt, input, executor: executor as "inline" | "queue", ...f }),
    succeed: (m: Machine, step: number, attempt: number, output: unknown, duration_ms: number) =>
      m.emit("step.compensated", { step, attempt, output, duration_ms }),
    retry: (m: Machine, step: number, attempt: number, error: StepError, delay_ms: number) =>
      m.emit("step.compensation_failed", { step, attempt, error, retry_at: m.now + delay_ms }),
    fail: (m: Machine, step: number, attempt: number, error: StepError) => m.emit("step.compensation_failed", { step, attempt, error }),
    defer: (m: Machine, step: number, attempt: number, error: StepError, retry_at: number) =>
      m.emit("step.compensation_failed", { step, attempt, error, retry_at, deferred: true }),
  },
} as const;

const events = (work: Work) => WORK_EVENTS[work.kind];
const since = (m: Machine, w: AttemptState) => Math.max(0, m.now - (w.started_ms ?? m.now));

/** The key an attempt's side effects are recorded under: a step's own after an undo, an undo's always. */
function idempotencyKey(m: Machine, work: Work): string | undefined {
  if (work.kind === "undo") return `${stepKey(m.state.run_id, m.state.steps.get(work.s.step_number)!)}:undo`;
  return work.s.undone ? stepKey(m.state.run_id, work.s) : undefined;
}

/** The protocol's operations bound to one attempt: what an executor is handed. */
function attemptOf(m: Machine, work: Work, attempt: number, input: unknown, tool: Tool): Attempt {
  const step = work.s.step_number;
  return {
    m,
    work,
    attempt,
    timeoutMs: m.state.options.step_timeout_ms,
    begin: (fields = {}) => events(work).begin(m, step, attempt, input, tool.executor, fields),
    succeed: (output, extra = {}) => succeed(m, work, output, extra),
    fail: (error) => fail(m, work, error),
    failForGood: (error) => failForGood(m, work, attempt, error),
    idempotencyKey: () => idempotencyKey(m, work),
  };
}

/**
 * Starts an attempt (by default the next one): resolves the input against the outputs so far,
 * checks it against the tool's schema (an input that cannot work costs no queue hop), and hands it
 * to the tool's executor. The input recorded and sent is the parsed one: what the tool gets.
 */
export function start(m: Machine, work: Work, attempt = work.s.attempt + 1): void {
  const w = work.s;
  let resolved: unknown;
  try {
    resolved = resolveStepInput(w.tool, w.input, stepOutputs(m.state));
  } catch (err) {
    if (!(err instanceof UnresolvedReferenceError)) throw err;
    failForGood(m, work, attempt, stepError("reference_unresolved", err.message));
    return;
  }
  const tool = getTool(w.tool);
  if (!tool || (work.kind === "undo" && !traitsOf(tool).undoable)) {
    const what = work.kind === "undo" ? "No tool that acts is named" : "No tool is named";
    failForGood(m, work, attempt, stepError("unknown_tool", `${what} "${w.tool}".`));
    return;
  }
  const parsed = tool.input_schema.safeParse(resolved);
  if (!parsed.success) {
    events(work).begin(m, w.step_number, attempt, resolved, tool.executor, {});
    // Said in the plan's terms when a reference brought the wrong kind of value.
    const issues = parsed.error.issues.map((i) => ({ path: i.path, message: referenceMismatch(w.tool, w.input, resolved, i) ?? i.message }));
    fail(m, work, invalidInput(w.tool, issues));
    return;
  }
  const a = attemptOf(m, work, attempt, parsed.data, tool);
  executorOf(tool).start({ ...a, tool, input: parsed.data as never });
}

/** The attempt succeeded. */
export function succeed(m: Machine, work: Work, output: unknown, extra: Extra & { duration_ms?: number; signal?: number } = {}): void {
  const { duration_ms, ...rest } = extra;
  // Measured exactly only when it could be over: a UTF-16 length times 3 bounds the UTF-8 size.
  const cap = m.state.options.max_output_bytes;
  const text = JSON.stringify(output ?? null);
  const bytes = text.length * 3 <= cap ? 0 : byteLength(text);
  if (bytes > cap) {
    const message = `${work.s.tool} returned ${bytes} bytes, over this run's max_output_bytes (${cap}).`;
    return failForGood(m, work, work.s.attempt, stepError("output_too_large", message), extra.queue_ms === undefined ? {} : { queue_ms: extra.queue_ms });
  }
  events(work).succeed(m, work.s.step_number, work.s.attempt, output, duration_ms ?? since(m, work.s), rest);
}

/** The attempt failed: the run's retry policy tries it again later, or it fails for good. */
export function fail(m: Machine, work: Work, error: StepError, extra: Extra = {}): void {
  const w = work.s;
  const decision = decideRetry(error, w.attempts, m.state.options, m.random);
  if (decision.retry) {
    events(work).retry(m, w.step_number, w.attempt, error, decision.delay_ms, extra);
    return;
  }
  const message = decision.reason === "attempts_exhausted" ? `${error.message} (gave up after ${w.attempts} attempts)` : error.message;
  events(work).fail(m, w.step_number, w.attempt, { ...error, message }, extra);
}

export function failForGood(m: Machine, work: Work, attempt: number, error: StepError, extra: Extra = {}): void {
  events(work).fail(m, work.s.step_number, attempt, error, extra);
}

/**
 * An open breaker turned the attempt away before the tool ran: it waits until `retryAt` and the
 * attempt is given back. A step waits at most the run's max_deferral_ms in all (an undo, as long
 * as compensation's own deadline allows).
 */
export function defer(m: Machine, work: Work, retryAt: number, error: StepError): void {
  const w = work.s;
  const limit = deferralLimit(m, work);
  if (limit !== null && m.now >= limit) return giveUpWaiting(m, work);
  // The retry comes at the breaker's transition, or at the limit if that is sooner: a cooldown
  // that doubles up to minutes must not carry a step past its max_deferral_ms.
  events(work).defer(m, w.step_number, w.attempt, error, Math.max(Math.min(retryAt, limit ?? Infinity), m.now));
}

/** When a step waiting on an open breaker must give up (epoch ms; null: it may wait until the run's deadline). */
function deferralLimit(m: Machine, work: Work): number | null {
  const limit = work.kind === "step" ? m.state.options.max_deferral_ms : null;
  return limit === null ? null : (work.s.deferred_since ?? m.now) + limit;
}

function giveUpWaiting(m: Machine, work: Work): void {
  const w = work.s;
  const waited = m.now - (w.deferred_since ?? m.now);
  const message = `${w.tool} stayed unavailable for ${waited} ms, past this run's max_deferral_ms (${m.state.options.max_deferral_ms}).`;
  failForGood(m, work, w.attempt, stepError("tool_unavailable", message));
}

/**
 * A step that waited on an open breaker and whose retry has come: past its max_deferral_ms it
 * fails now (tool_unavailable) instead of being dispatched to be turned away again. Answers
 * whether it did.
 */
export function failIfWaitedTooLong(m: Machine, work: Work): boolean {
  if (!waitsOnBreaker(work.s.error)) return false;
  const limit = deferralLimit(m, work);
  if (limit === null || m.now < limit) return false;
  giveUpWaiting(m, work);
  return true;
}

/** When the watchdog must look at this work's current attempt (null: it is not running or waiting). */
export function deadlineOf(w: AttemptState & { status: string }): number | null {
  if (w.status !== "running" && w.status !== "waiting") return null;
  const tool = getTool(w.tool);
  return tool ? executorOf(tool).deadline(w) : null;
}

/** The current attempt's deadline has passed: its executor says what that means. */
export function expire(m: Machine, work: Work): void {
  const tool = getTool(work.s.tool);
  if (!tool) return;
  const a = attemptOf(m, work, work.s.attempt, work.s.resolved_input, tool);
  executorOf(tool).expire({ ...a, tool });
}

export type Found = { work: Work } | { reason: "unknown_step" | "stale_dispatch" | "not_running" };

/**
 * The work a consumer's dispatch belongs to, if it is that work's current attempt and still
 * running: a step's attempt or an undo's, told apart by the dispatch (every dispatch is the seq of
 * the event that began it, so no two pieces of work share one).
 */
export function findWork(state: RunState, step: number, dispatch: number): Found {
  const u = state.compensation?.steps.find((c) => c.step_number === step && c.dispatch_seq === dispatch);
  const s = state.steps.get(step);
  const work: Work | undefined = u ? { kind: "undo", s: u } : s ? { kind: "step", s } : undefined;
  if (!work) return { reason: "unknown_step" };
  if (work.s.dispatch_seq !== dispatch) return { reason: "stale_dispatch" };
  if (work.s.status !== "running" || TERMINAL_RUN.has(state.status)) return { reason: "not_running" };
  return { work };
}

/** Every piece of work of the run: its steps, then the undos of a compensation under way. */
export function allWork(state: RunState): Work[] {
  const steps: Work[] = [...state.steps.values()].map((s) => ({ kind: "step", s }));
  return steps.concat((state.compensation?.steps ?? []).map((u) => ({ kind: "undo", s: u })));
}
