// A run's state is a fold of its events: the run object keeps one state and applies each event as
// it appends it; an evicted object rebuilds it by folding the log. Events written by earlier
// versions (the claim-based protocol's step.queued, logs without tenants) still fold.
import { stepError } from "../../../execution/step-error";
import { resolveOptions } from "../../../execution/run-options";
import type { Plan } from "../../../execution/plan-schema";
import type { RunEvent } from "./events";
import { agentHandlers, agentWorkByDispatch, newAgent } from "./fold-agent";
import { compensationHandlers } from "./fold-compensation";
import { childrenHandlers } from "./fold-family";
import { rerunHandlers } from "./fold-rerun";
import { beginAttempt, clearDeadlines, giveBack, resent, waitToRetry } from "./fold-attempt";
import { emptyState, noAttempt, type AttemptState, type Handlers, type RunState, type StepState } from "./state";

function newStep(s: Plan["steps"][number]): StepState {
  return {
    ...s,
    ...noAttempt(),
    status: "pending",
    skip_reason: null,
    reused: false,
    duration_ms: null,
    queue_ms: null,
    dispatch_deadline: null,
    succeeded_seq: null,
    undone: 0,
    generation: 0,
    agent: null,
  };
}

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

/** A step has one deadline beyond an attempt's: the earlier protocol's dispatch deadline. */
function clear(s: StepState): void {
  clearDeadlines(s);
  s.dispatch_deadline = null;
}

/** A step's attempt begins: it runs (step.started) or waits for someone (step.waiting). */
function begin(s: StepState, status: "running" | "waiting", d: { attempt: number; input: unknown }, at: string, seq: number): StepState {
  beginAttempt(s, d, at, seq);
  s.status = status;
  s.duration_ms = null;
  s.dispatch_deadline = null;
  return s;
}

/** The attempt that `dispatch` began: a step's, an undo's, or an agent's model call or tool call (step.resent and its kin). */
function attemptOf(state: RunState, stepNumber: number, dispatch: number): AttemptState | undefined {
  const s = state.steps.get(stepNumber);
  if (s?.dispatch_seq === dispatch) return s;
  return state.compensation?.steps.find((u) => u.step_number === stepNumber && u.dispatch_seq === dispatch) ?? (s && agentWorkByDispatch(s, dispatch));
}

const handlers: Handlers = {
  "run.created": (state, d, at) => {
    state.run_id = d.run_id;
    state.tenant = d.tenant ?? "";
    state.holds_slot = d.holds_slot ?? state.tenant !== "";
    state.slot_shard = d.slot_shard ?? 0;
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
    state.llm = d.llm ?? null;
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
    clear(s);
    s.dispatch_deadline = d.dispatch_deadline;
  },
  "step.redispatched": (state, d) => {
    step(state, d.step).dispatch_deadline = d.dispatch_deadline;
  },
  "step.started": (state, d, at, seq) => {
    const s = begin(step(state, d.step), "running", d, at, seq);
    s.lease_until = d.lease_until ?? null;
    s.resend_at = d.resend_at ?? null;
    s.wake_at = d.wake_at ?? null;
    if (d.executor === "agent") {
      // A resumed agent goes on from its recorded turns: a model call that failed is made again,
      // every one that answered is not.
      s.agent ??= newAgent();
      const last = s.agent.turns.at(-1);
      if (last?.model.status === "failed") Object.assign(last.model, { status: "pending", retry_at: null });
    }
  },
  "step.waiting": (state, d, at, seq) => {
    begin(step(state, d.step), "waiting", d, at, seq).wait_until = d.until;
  },
  "step.decided": (state, d, at, seq) => {
    const s = step(state, d.step);
    s.completed_at = at;
    s.duration_ms = s.started_ms === null ? null : Math.max(0, Date.parse(at) - s.started_ms);
    clear(s);
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
      // The step's output holds the payload now: memory keeps one copy, not two.
      if (signal) {
        signal.taken_by = d.step;
        signal.payload = null;
      }
    }
    s.deferred_since = null;
    s.status = "succeeded";
    s.output = d.output;
    s.error = null;
    s.completed_at = at;
    s.duration_ms = d.duration_ms;
    s.queue_ms = d.queue_ms ?? s.queue_ms;
    clear(s);
  },
  "step.retry_scheduled": (state, d) => {
    const s = step(state, d.step);
    // The tool ran (and failed): any wait on a breaker before it is over.
    s.deferred_since = null;
    s.queue_ms = d.queue_ms ?? s.queue_ms;
    waitToRetry(s, d.error, d.retry_at);
    s.dispatch_deadline = null;
  },
  // A step's attempt, an undo's, or an agent's model call or tool call, named by its dispatch.
  "step.resent": (state, d) => {
    const w = attemptOf(state, d.step, d.dispatch);
    if (w) resent(w, d.next_resend_at);
  },
  "step.lease_renewed": (state, d) => {
    const w = attemptOf(state, d.step, d.dispatch);
    if (w) w.lease_until = d.lease_until;
  },
  "step.resend_postponed": (state, d) => {
    const w = attemptOf(state, d.step, d.dispatch);
    if (w) w.resend_at = d.resend_at;
  },
  // Turned away by an open breaker before the tool ran: waits without using up an attempt. Under
  // the earlier protocol the step was still queued (no attempt counted yet); now it was running.
  "step.deferred": (state, d, at) => {
    const s = step(state, d.step);
    if (s.status === "running") {
      giveBack(s, at);
      s.started_at = null;
      s.started_ms = null;
    } else {
      s.deferrals += 1;
      s.deferred_since ??= Date.parse(at);
    }
    waitToRetry(s, d.error, d.retry_at);
    s.dispatch_deadline = null;
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
    clear(s);
  },
  "step.skipped": (state, d, at) => {
    const s = step(state, d.step);
    s.status = "skipped";
    s.skip_reason = d.reason;
    s.completed_at = at;
    clear(s);
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
  ...agentHandlers,
  "run.resumed": (state, d, at) => {
    state.status = "running";
    // A resumed run is in flight again under its tenant's cap, with its whole run_timeout_ms.
    state.holds_slot = state.tenant !== "" && state.parent === null;
    state.slot_shard = d.slot_shard ?? 0;
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
      Object.assign(s, newStep(s), { attempt: s.attempt, undone, generation: s.generation + 1, agent: s.agent });
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

/** Applies one event to the state in place (the run object keeps one state and folds as it appends). */
export function applyEvent(state: RunState, event: RunEvent): RunState {
  (handlers[event.type] as (s: RunState, d: unknown, at: string, seq: number) => void)(state, event.data, event.at, event.seq);
  state.last_seq = event.seq;
  // "cancelling", "waiting" and "paused" are derived, never written: a run in flight is cancelling
  // from a cancel that compensates until its undoing starts, else paused while it is, and otherwise
  // waits exactly while one of its steps does.
  if (state.status === "running" || state.status === "waiting" || state.status === "paused" || state.status === "cancelling") {
    state.status =
      state.cancelling !== null
        ? "cancelling"
        : state.paused
          ? "paused"
          : [...state.steps.values()].some((s) => s.status === "waiting")
            ? "waiting"
            : "running";
  }
  return state;
}

export function foldEvents(events: Iterable<RunEvent>): RunState {
  const state = emptyState();
  for (const e of events) applyEvent(state, e);
  return state;
}
