// The one attempt protocol. Everything a run attempts durably (a plan step, the undo of one, and
// an agent step's model calls and tool calls) begins, leases, reports, fails, retries, defers and
// expires through these functions. What differs between kinds of work is only which events record it (WORK_EVENTS);
// what differs between kinds of step is the executor (executors/), asked through one interface.
import { decideRetry } from "../../../execution/retry-policy";
import { byteLength } from "../../../lib/bytes";
import { invalidInput, stepError, waitsOnBreaker, type StepError } from "../../../execution/step-error";
import type { ModelCallResult } from "../../../llm/model-call-schema";
import { UnresolvedReferenceError, referenceMismatch, resolveStepInput } from "../../../planner/references";
import { getTool } from "../../../tools/registry";
import { traitsOf, type Tool } from "../../../tools/tool";
import type { BeginFields } from "./executors/executor";
import { executorOf, type Attempt, type Work } from "./executors/index";
import type { Machine } from "./machine";
import { agentAttempts, agentCall, stepKey } from "./queries";
import { callCost, modelCallInput, type LlmCallInput } from "./agent/model-input";
import { TERMINAL_RUN, stepOutputs, type AttemptState, type RunState, type StepState } from "./state";

export type { Work } from "./executors/index";

type Extra = { queue_ms?: number };
type Of<K extends Work["kind"]> = Extract<Work, { kind: K }>;

/** How one kind of work is recorded: the same protocol, told in its own events. */
interface WorkEvents<W extends Work> {
  begin(m: Machine, w: W, attempt: number, input: unknown, executor: Tool["executor"], f: BeginFields): number;
  succeed(m: Machine, w: W, output: unknown, duration_ms: number, x: Extra & { signal?: number }): void;
  retry(m: Machine, w: W, error: StepError, delay_ms: number, x: Extra): void;
  fail(m: Machine, w: W, attempt: number, error: StepError, x: Extra): void;
  defer(m: Machine, w: W, error: StepError, retry_at: number): void;
}

const call = (u: { s: { call: number | null } }) => (u.s.call === null ? {} : { call: u.s.call });

const WORK_EVENTS: { [K in Work["kind"]]: WorkEvents<Of<K>> } = {
  step: {
    begin: (m, w, attempt, input, executor, f) => m.emit("step.started", { step: w.s.step_number, attempt, input, executor, ...f }),
    succeed: (m, w, output, duration_ms, x) => m.emit("step.succeeded", { step: w.s.step_number, attempt: w.s.attempt, output, duration_ms, ...x }),
    retry: (m, w, error, delay_ms, x) =>
      m.emit("step.retry_scheduled", { step: w.s.step_number, attempt: w.s.attempt, error, delay_ms, retry_at: m.now + delay_ms, ...x }),
    fail: (m, w, attempt, error, x) => m.emit("step.failed", { step: w.s.step_number, attempt, error, ...x }),
    defer: (m, w, error, retry_at) => m.emit("step.deferred", { step: w.s.step_number, attempt: w.s.attempt, error, retry_at }),
  },
  undo: {
    begin: (m, w, attempt, input, executor, f) =>
      m.emit("compensation.step_started", { step: w.s.step_number, ...call(w), attempt, input, executor: executor as "inline" | "queue", ...f }),
    succeed: (m, w, output, duration_ms) => m.emit("step.compensated", { step: w.s.step_number, ...call(w), attempt: w.s.attempt, output, duration_ms }),
    retry: (m, w, error, delay_ms) =>
      m.emit("step.compensation_failed", { step: w.s.step_number, ...call(w), attempt: w.s.attempt, error, retry_at: m.now + delay_ms }),
    fail: (m, w, attempt, error) => m.emit("step.compensation_failed", { step: w.s.step_number, ...call(w), attempt, error }),
    defer: (m, w, error, retry_at) =>
      m.emit("step.compensation_failed", { step: w.s.step_number, ...call(w), attempt: w.s.attempt, error, retry_at, deferred: true }),
  },
  model: {
    begin: (m, w, attempt, input, _executor, f) => {
      const i = input as LlmCallInput;
      const reservation = (i.reservation_usd ?? 0) > 0 ? { reservation_usd: i.reservation_usd } : {};
      const { step_number: step } = w.step;
      const lease_until = f.lease_until ?? m.now;
      const resend = f.resend_at !== undefined ? { resend_at: f.resend_at } : {};
      return m.emit("llm.call_started", {
        step,
        turn: w.s.turn,
        attempt,
        model: i.model,
        max_tokens: i.max_tokens,
        prompt_bytes: i.prompt_bytes ?? 0,
        ...reservation,
        lease_until,
        ...resend,
      });
    },
    succeed: (m, w, output, duration_ms, x) => {
      const r = output as ModelCallResult;
      m.emit("llm.call_succeeded", {
        step: w.step.step_number,
        turn: w.s.turn,
        attempt: w.s.attempt,
        text: r.text,
        tool_calls: r.tool_calls.map((c) => ({ tool: c.name, input: c.input })),
        usage: r.usage,
        cost_usd: callCost(m.state, w.step, r.usage),
        ...(r.usage_estimated ? { usage_estimated: true } : {}),
        finish_reason: r.finish_reason,
        duration_ms,
        ...(x.queue_ms !== undefined ? { queue_ms: x.queue_ms } : {}),
      });
    },
    retry: (m, w, error, delay_ms, x) =>
      m.emit("llm.call_failed", { step: w.step.step_number, turn: w.s.turn, attempt: w.s.attempt, error, retry_at: m.now + delay_ms, ...x }),
    fail: (m, w, attempt, error, x) => m.emit("llm.call_failed", { step: w.step.step_number, turn: w.s.turn, attempt, error, ...x }),
    defer: (m, w, error, retry_at) =>
      m.emit("llm.call_failed", { step: w.step.step_number, turn: w.s.turn, attempt: w.s.attempt, error, retry_at, deferred: true }),
  },
  call: {
    begin: (m, w, attempt, input, executor, f) =>
      m.emit("agent.call_started", { step: w.step.step_number, turn: w.s.turn, call: w.s.call, attempt, tool: w.s.tool, input, executor, ...f }),
    succeed: (m, w, output, duration_ms, x) =>
      m.emit("agent.call_succeeded", {
        step: w.step.step_number,
        call: w.s.call,
        attempt: w.s.attempt,
        output,
        duration_ms,
        ...(x.queue_ms !== undefined ? { queue_ms: x.queue_ms } : {}),
      }),
    retry: (m, w, error, delay_ms, x) =>
      m.emit("agent.call_failed", { step: w.step.step_number, call: w.s.call, attempt: w.s.attempt, error, retry_at: m.now + delay_ms, ...x }),
    fail: (m, w, attempt, error, x) => m.emit("agent.call_failed", { step: w.step.step_number, call: w.s.call, attempt, error, ...x }),
    defer: (m, w, error, retry_at) =>
      m.emit("agent.call_failed", { step: w.step.step_number, call: w.s.call, attempt: w.s.attempt, error, retry_at, deferred: true }),
  },
};

const events = <W extends Work>(work: W) => WORK_EVENTS[work.kind] as unknown as WorkEvents<W>;
const since = (m: Machine, w: AttemptState) => Math.max(0, m.now - (w.started_ms ?? m.now));

/** The key an attempt's side effects are recorded under: a step's own after an undo, an undo's and an agent call's always. */
function idempotencyKey(m: Machine, work: Work): string | undefined {
  const id = m.state.run_id;
  switch (work.kind) {
    case "undo": {
      const undone = m.state.steps.get(work.s.step_number)!;
      return `${work.s.call === null ? stepKey(id, undone) : callKey(id, undone, agentCall(undone, work.s.call))}:undo`;
    }
    case "call":
      return callKey(id, work.step, work.s);
    case "model":
      return undefined;
    case "step":
      return work.s.undone ? stepKey(id, work.s) : undefined;
  }
}

/** The input a dispatched attempt was given, for a consumer that could not get it in its message (a model call's is rebuilt). */
export const attemptInput = (state: RunState, work: Work): unknown => (work.kind === "model" ? inputOf({ state }, work) : work.s.resolved_input);

/** An agent's tool call acts under a key of its own: one per (run, step, turn, call). */
const callKey = (runId: string, step: StepState, c: { turn: number; call: number } | undefined) => `${stepKey(runId, step)}:t${c?.turn ?? 0}c${c?.call ?? 0}`;

/**
 * The input an attempt is given, before its tool's schema checks it: a step's or an undo's with
 * its references resolved against the outputs so far (an agent call's undo, against that call's
 * output); a model call's, rebuilt from the recorded turns; a tool call's, as the model wrote it.
 */
export function inputOf(m: Pick<Machine, "state">, work: Work): unknown {
  switch (work.kind) {
    case "step":
      return resolveStepInput(work.s.tool, work.s.input, stepOutputs(m.state));
    case "undo": {
      if (work.s.call === null) return resolveStepInput(work.s.tool, work.s.input, stepOutputs(m.state));
      const undone = agentCall(m.state.steps.get(work.s.step_number)!, work.s.call);
      return resolveStepInput(work.s.tool, work.s.input, new Map([[work.s.step_number, undone?.output]]));
    }
    case "model": {
      // One reservation per attempt: a retry after a failed call (settled to what it cost) holds
      // back its own worst case again; a duplicate delivery of one attempt reuses its reservation.
      const attempt = work.s.status === "running" ? work.s.attempt : work.s.attempt + 1;
      const next = modelCallInput(m.state, work.step, attempt);
      return next.ok ? next.input : null;
    }
    case "call":
      return work.s.input;
  }
}

/** The protocol's operations bound to one attempt: what an executor is handed. */
function attemptOf(m: Machine, work: Work, attempt: number, input: unknown, tool: Tool): Attempt {
  return {
    m,
    work,
    attempt,
    timeoutMs: m.state.options.step_timeout_ms,
    input,
    begin: (fields = {}) => events(work).begin(m, work, attempt, input, tool.executor, fields),
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
    resolved = inputOf(m, work);
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
    events(work).begin(m, work, attempt, resolved, tool.executor, {});
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
  events(work).succeed(m, work, output, duration_ms ?? since(m, work.s), rest);
}

/**
 * The attempt failed: the run's retry policy tries it again later, or it fails for good.
 * `now`: try again at once, without the backoff (an attempt that never started, see report()).
 */
export function fail(m: Machine, work: Work, error: StepError, extra: Extra = {}, now = false): void {
  const w = work.s;
  const decision = decideRetry(error, w.attempts, m.state.options, m.random);
  if (decision.retry) {
    events(work).retry(m, work, error, now ? 0 : decision.delay_ms, extra);
    return;
  }
  const message = decision.reason === "attempts_exhausted" ? `${error.message} (gave up after ${w.attempts} attempts)` : error.message;
  events(work).fail(m, work, w.attempt, { ...error, message }, extra);
}

export function failForGood(m: Machine, work: Work, attempt: number, error: StepError, extra: Extra = {}): void {
  events(work).fail(m, work, attempt, error, extra);
}

/**
 * An open breaker turned the attempt away before the tool ran: it waits until `retryAt` and the
 * attempt is given back. A step waits at most the run's max_deferral_ms in all (an undo, as long
 * as compensation's own deadline allows).
 */
export function defer(m: Machine, work: Work, retryAt: number, error: StepError): void {
  const limit = deferralLimit(m, work);
  if (limit !== null && m.now >= limit) return giveUpWaiting(m, work);
  // The retry comes at the breaker's transition, or at the limit if that is sooner: a cooldown
  // that doubles up to minutes must not carry a step past its max_deferral_ms.
  events(work).defer(m, work, error, Math.max(Math.min(retryAt, limit ?? Infinity), m.now));
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
  const a = attemptOf(m, work, work.s.attempt, attemptInput(m.state, work), tool);
  executorOf(tool).expire({ ...a, tool });
}

export type Found = { work: Work } | { reason: "unknown_step" | "stale_dispatch" | "not_running" };

/**
 * The work a consumer's dispatch belongs to, if it is that work's current attempt and still
 * running: a step's attempt, an undo's, or an agent step's model call or tool call, told apart by
 * the dispatch (every dispatch is the seq of the event that began it, so no two share one).
 */
export function findWork(state: RunState, step: number, dispatch: number): Found {
  const u = state.compensation?.steps.find((c) => c.step_number === step && c.dispatch_seq === dispatch);
  const s = state.steps.get(step);
  const work: Work | undefined = u ? { kind: "undo", s: u } : s ? (agentWork(s).find((w) => w.s.dispatch_seq === dispatch) ?? { kind: "step", s }) : undefined;
  if (!work) return { reason: "unknown_step" };
  if (work.s.dispatch_seq !== dispatch) return { reason: "stale_dispatch" };
  if (work.s.status !== "running" || TERMINAL_RUN.has(state.status)) return { reason: "not_running" };
  return { work };
}

/** An agent step's own work: each turn's model call and the tool calls it asked for. */
function agentWork(s: StepState): Work[] {
  return agentAttempts(s).map((w): Work => ({ ...w, step: s }));
}

/** Every piece of work of the run: its steps and their agents' calls, then the undos of a compensation under way. */
export function allWork(state: RunState): Work[] {
  const steps: Work[] = [...state.steps.values()].flatMap((s): Work[] => [{ kind: "step", s }, ...(s.agent ? agentWork(s) : [])]);
  return steps.concat((state.compensation?.steps ?? []).map((u) => ({ kind: "undo", s: u })));
}
