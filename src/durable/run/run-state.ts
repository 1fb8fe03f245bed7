// A run's state is a fold of its events: the run object keeps one state and applies each event as
// it appends it; an evicted object rebuilds it by folding the log. Events written by earlier
// versions (the claim-based protocol's step.queued, logs without tenants) still fold.
import { stepError, type StepError } from "../../execution/step-error";
import { resolveOptions, type ResolvedOptions } from "../../execution/run-options";
import type { Plan } from "../../execution/plan-schema";
import type { RunEvent, RunEventData, RunEventType, RunSchedule } from "./run-events";
import { TERMINAL_RUN_STATUSES, TERMINAL_STEP_STATUSES, type RunStatus, type StepStatus } from "../../execution/statuses";
import { compensationHandlers, type CompensationState } from "./compensation-state";
import { rerunHandlers } from "./rerun-state";
import { childrenHandlers, emptyFamily, type FamilyState } from "./children-state";

export type { RunStatus, StepStatus };
export type { CompensationState, UndoState } from "./compensation-state";

export interface StepState {
  step_number: number;
  tool: string;
  input: Record<string, unknown>;
  depends_on: number[];
  reasoning: string;
  status: StepStatus;
  /** The attempt currently queued or running (0 before the first). */
  attempt: number;
  /** Attempts started since the run was created or last resumed (deferred dispatches are not attempts). */
  attempts: number;
  /** Dispatches an open breaker turned away before the tool ran. */
  deferrals: number;
  /** When the current wait on an open breaker began (epoch ms), for max_deferral_ms. */
  deferred_since: number | null;
  /** The seq of the step.started event of the current dispatch: reports must name it. */
  dispatch_seq: number | null;
  resolved_input: unknown;
  output: unknown;
  error: StepError | null;
  skip_reason: string | null;
  started_at: string | null;
  completed_at: string | null;
  duration_ms: number | null;
  /** How long the last reported attempt's message waited for a consumer (queued steps), for GET /metrics. */
  queue_ms: number | null;
  /** A rerun took this step's output over from the run it forks: it never ran here. */
  reused: boolean;
  started_ms: number | null;
  /** Watchdog deadlines, epoch ms. */
  dispatch_deadline: number | null;
  lease_until: number | null;
  retry_at: number | null;
  wake_at: number | null;
  /** A waiting step's deadline: its tool's on_timeout decides then. */
  wait_until: number | null;
  /** The seq of the event that succeeded it: compensations run in reverse order of it. */
  succeeded_seq: number | null;
  /** How often its effect was undone and the step reset by a resume: keys its next attempts apart. */
  undone: number;
}

/** A signal sent to the run, and the step that took it (null: still buffered). */
export interface ReceivedSignal {
  seq: number;
  name: string;
  payload: unknown;
  taken_by: number | null;
}

export interface RunState extends FamilyState {
  run_id: string;
  /** The tenant that owns the run; "" for runs made before tenants existed (nobody's). */
  tenant: string;
  prompt: string | null;
  status: RunStatus;
  plan: Plan | null;
  options: ResolvedOptions;
  request_hash: string;
  trace_id: string;
  /** The span of the request that created the run, when spans are exported. */
  parent_span_id: string | null;
  /** Days the run is kept once it ended; null: RUN_RETENTION_DAYS (runs created before it was recorded). */
  retention_days: number | null;
  steps: Map<number, StepState>;
  result: unknown;
  error: { code: string; message: string; step_number?: number } | null;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  last_seq: number;
  /** The run holds a slot under its tenant's cap while in flight, to give back when it ends. */
  holds_slot: boolean;
  /** The run's deadline (epoch ms): created_at + run_timeout_ms. */
  deadline: number | null;
  /** Signals received, in order; Wait.signal steps take the oldest of their name not yet taken. */
  signals: ReceivedSignal[];
  /** A cancel that asked for compensation is under way: its reason (null: none). */
  cancelling: string | null;
  compensation: CompensationState | null;
  /** Paused: nothing new is dispatched until it is resumed. */
  paused: boolean;
  /** The schedule occurrence that started the run; null for runs started otherwise. */
  schedule: RunSchedule | null;
  /** The run's own webhook URL, called when it ends (null: none). */
  webhook_url: string | null;
  /** The event types the tenant subscribed webhooks to when the run was created. */
  webhook_events: string[];
  /** The run this one was forked from (POST /runs/{id}/rerun); null: none. */
  rerun_of: string | null;
}

/** The outputs of the steps that succeeded, for resolving references. */
export function stepOutputs(state: RunState): Map<number, unknown> {
  const out = new Map<number, unknown>();
  for (const s of state.steps.values()) if (s.status === "succeeded") out.set(s.step_number, s.output);
  return out;
}

export const TERMINAL_RUN: ReadonlySet<RunStatus> = new Set(TERMINAL_RUN_STATUSES);
export const TERMINAL_STEP: ReadonlySet<StepStatus> = new Set(TERMINAL_STEP_STATUSES);

function newStep(s: Plan["steps"][number]): StepState {
  return {
    ...s,
    status: "pending",
    attempt: 0,
    attempts: 0,
    deferrals: 0,
    deferred_since: null,
    dispatch_seq: null,
    resolved_input: null,
    output: null,
    error: null,
    skip_reason: null,
    reused: false,
    started_at: null,
    completed_at: null,
    duration_ms: null,
    queue_ms: null,
    started_ms: null,
    dispatch_deadline: null,
    lease_until: null,
    retry_at: null,
    wake_at: null,
    wait_until: null,
    succeeded_seq: null,
    undone: 0,
  };
}

const clearDeadlines = (s: StepState) => {
  s.dispatch_deadline = null;
  s.lease_until = null;
  s.retry_at = null;
  s.wake_at = null;
  s.wait_until = null;
};

/**
 * An attempt begins, whether it runs (step.started) or waits for someone (step.waiting): the
 * caller then sets the one deadline that attempt has.
 */
function beginAttempt(s: StepState, status: "running" | "waiting", d: { attempt: number; input: unknown }, at: string, seq: number): StepState {
  s.dispatch_seq = seq;
  s.status = status;
  s.attempt = d.attempt;
  s.attempts += 1;
  s.resolved_input = d.input;
  s.started_at = at;
  s.started_ms = Date.parse(at);
  s.completed_at = null;
  s.duration_ms = null;
  clearDeadlines(s);
  return s;
}

/** Back to pending, with the error that sent it there, until `retryAt`. */
function waitToRetry(s: StepState, error: StepError, retryAt: number): void {
  s.status = "pending";
  s.error = error;
  clearDeadlines(s);
  s.retry_at = retryAt;
}

export type Handlers = { [T in RunEventType]: (state: RunState, data: RunEventData[T], at: string, seq: number) => void };

/** Steps that waited on a breaker become ready at once (the decider dispatches them as slots allow). */
function readyNow(state: RunState, steps: number[] | undefined): void {
  for (const n of steps ?? []) {
    const s = step(state, n);
    if (s.status === "pending") s.retry_at = null;
  }
}

export const step = (state: RunState, n: number): StepState => {
  const s = state.steps.get(n);
  if (!s) throw new Error(`event refers to unknown step ${n}`);
  return s;
};

const handlers: Handlers = {
  "run.created": (state, d, at) => {
    state.run_id = d.run_id;
    state.tenant = d.tenant ?? "";
    state.holds_slot = d.holds_slot ?? state.tenant !== "";
    state.webhook_url = d.webhook?.url ?? null;
    state.webhook_events = d.webhook_events ?? [];
    state.prompt = d.prompt;
    state.options = resolveOptions(d.options);
    state.request_hash = d.request_hash;
    state.trace_id = d.trace_id;
    state.schedule = d.schedule ?? null;
    state.parent_span_id = d.parent_span_id ?? null;
    state.retention_days = d.retention_days ?? null;
    state.created_at = at;
    state.deadline = Date.parse(at) + state.options.run_timeout_ms;
    state.status = "pending";
    state.rerun_of = d.rerun_of ?? null;
    state.parent = d.parent ?? null;
  },
  "plan.accepted": (state, d) => {
    state.plan = d.plan;
    state.steps = new Map(d.plan.steps.map((s) => [s.step_number, newStep(s)]));
  },
  "run.started": (state, _d, at) => {
    state.status = "running";
    state.started_at ??= at;
  },
  "step.queued": (state, d) => {
    const s = step(state, d.step);
    s.status = "queued";
    s.attempt = d.attempt;
    clearDeadlines(s);
    s.dispatch_deadline = d.dispatch_deadline;
  },
  "step.redispatched": (state, d) => {
    step(state, d.step).dispatch_deadline = d.dispatch_deadline;
  },
  "step.started": (state, d, at, seq) => {
    const s = beginAttempt(step(state, d.step), "running", d, at, seq);
    s.lease_until = d.lease_until ?? null;
    s.wake_at = d.wake_at ?? null;
  },
  "step.waiting": (state, d, at, seq) => {
    beginAttempt(step(state, d.step), "waiting", d, at, seq).wait_until = d.until;
  },
  "step.decided": (state, d, at, seq) => {
    const s = step(state, d.step);
    s.completed_at = at;
    s.duration_ms = s.started_ms === null ? null : Math.max(0, Date.parse(at) - s.started_ms);
    clearDeadlines(s);
    if (d.decision === "approve") {
      s.status = "succeeded";
      s.succeeded_seq = seq;
      s.output = { decision: d.decision, comment: d.comment, decided_by: d.decided_by, decided_at: at };
      s.error = null;
      return;
    }
    s.status = "failed";
    s.error = d.timed_out
      ? stepError("approval_timeout", "No decision came before the approval's timeout, and its on_timeout is reject.")
      : stepError("approval_rejected", `Rejected by ${d.decided_by}${d.comment ? `: ${d.comment}` : "."}`);
  },
  "step.succeeded": (state, d, at, seq) => {
    const s = step(state, d.step);
    s.succeeded_seq = seq;
    if (d.signal !== undefined) {
      const signal = state.signals.find((g) => g.seq === d.signal);
      if (signal) signal.taken_by = d.step;
    }
    s.deferred_since = null;
    s.status = "succeeded";
    s.output = d.output;
    s.error = null;
    s.completed_at = at;
    s.duration_ms = d.duration_ms;
    s.queue_ms = d.queue_ms ?? s.queue_ms;
    clearDeadlines(s);
  },
  "step.retry_scheduled": (state, d) => {
    const s = step(state, d.step);
    // The tool ran (and failed): any wait on a breaker before it is over.
    s.deferred_since = null;
    s.queue_ms = d.queue_ms ?? s.queue_ms;
    waitToRetry(s, d.error, d.retry_at);
  },
  // Turned away by an open breaker before the tool ran: waits without using up an attempt. Under
  // the earlier protocol the step was still queued (no attempt counted yet); now it was running.
  "step.deferred": (state, d, at) => {
    const s = step(state, d.step);
    if (s.status === "running") {
      s.attempts = Math.max(0, s.attempts - 1);
      s.attempt = Math.max(0, s.attempt - 1);
      s.started_at = null;
      s.started_ms = null;
    }
    s.deferrals += 1;
    s.deferred_since ??= Date.parse(at);
    waitToRetry(s, d.error, d.retry_at);
  },
  "signal.received": (state, d, _at, seq) => {
    state.signals.push({ seq, name: d.name, payload: d.payload, taken_by: null });
  },
  // Breaker transitions are recorded in the runs they touch; the steps waiting on one may go now.
  "breaker.opened": () => {},
  "breaker.half_opened": (state, d) => readyNow(state, d.steps),
  "breaker.closed": (state, d) => readyNow(state, d.steps),
  "step.failed": (state, d, at) => {
    const s = step(state, d.step);
    s.status = "failed";
    s.deferred_since = null;
    // A step that failed before it could start (an unresolvable reference) still used this number.
    s.attempt = Math.max(s.attempt, d.attempt);
    s.error = d.error;
    s.queue_ms = d.queue_ms ?? s.queue_ms;
    s.completed_at = at;
    if (s.started_ms !== null) s.duration_ms = Math.max(0, Date.parse(at) - s.started_ms);
    clearDeadlines(s);
  },
  "step.skipped": (state, d, at) => {
    const s = step(state, d.step);
    s.status = "skipped";
    s.skip_reason = d.reason;
    s.completed_at = at;
    clearDeadlines(s);
  },
  "run.completed": (state, d, at) => {
    state.status = "completed";
    state.result = d.result;
    state.completed_at = at;
  },
  "run.failed": (state, d, at) => {
    state.status = "failed";
    state.error = d.error;
    state.completed_at = at;
  },
  "run.cancelled": (state, d, at) => {
    state.status = "cancelled";
    state.error = { code: "cancelled", message: d.reason };
    state.completed_at = at;
  },
  ...compensationHandlers,
  ...rerunHandlers,
  ...childrenHandlers,
  "run.resumed": (state, d, at) => {
    state.status = "running";
    // A resumed run is in flight again under its tenant's cap, with its whole run_timeout_ms.
    state.holds_slot = state.tenant !== "";
    state.deadline = Date.parse(at) + state.options.run_timeout_ms;
    state.error = null;
    state.result = null;
    state.completed_at = null;
    for (const n of d.steps) {
      const s = step(state, n);
      // A step whose effect was undone runs again under a new idempotency key (its old one
      // names the effect that was undone).
      const undone = s.undone + (state.compensation?.steps.some((u) => u.step_number === n && u.status === "succeeded") ? 1 : 0);
      // The attempt number keeps counting, so a message from before the resume stays stale.
      Object.assign(s, newStep(s), { attempt: s.attempt, undone });
    }
    state.compensation = null;
    state.cancelling = null;
    state.paused = false;
  },
  "run.paused": (state) => {
    state.paused = true;
  },
  "run.unpaused": (state) => {
    state.paused = false;
  },
};

export function emptyState(): RunState {
  return {
    run_id: "",
    tenant: "",
    prompt: null,
    status: "pending",
    plan: null,
    options: resolveOptions(undefined),
    request_hash: "",
    trace_id: "",
    parent_span_id: null,
    retention_days: null,
    steps: new Map(),
    result: null,
    error: null,
    created_at: "",
    started_at: null,
    completed_at: null,
    last_seq: 0,
    holds_slot: false,
    deadline: null,
    signals: [],
    cancelling: null,
    compensation: null,
    paused: false,
    schedule: null,
    webhook_url: null,
    webhook_events: [],
    rerun_of: null,
    ...emptyFamily(),
  };
}

/** Applies one event to the state in place (the run object keeps one state and folds as it appends). */
export function applyEvent(state: RunState, event: RunEvent): RunState {
  (handlers[event.type] as (s: RunState, d: unknown, at: string, seq: number) => void)(state, event.data, event.at, event.seq);
  state.last_seq = event.seq;
  // "waiting" and "paused" are derived, never written: a run in flight is paused while it is,
  // and otherwise waits exactly while one of its steps does.
  if (state.status === "running" || state.status === "waiting" || state.status === "paused") {
    state.status = state.paused ? "paused" : [...state.steps.values()].some((s) => s.status === "waiting") ? "waiting" : "running";
  }
  return state;
}

export function foldEvents(events: Iterable<RunEvent>): RunState {
  const state = emptyState();
  for (const e of events) applyEvent(state, e);
  return state;
}
