// A run's decisions about its child runs (Run.start steps, and an agent's calls to Agent.run: a
// nested agent is a child run of one Agent.run step), as pure functions of its state like
// decide.ts's. A Run.start step's dispatch is a step.started with a short lease (executors/child.ts);
// the run object then creates the child (one call to the child's object, effects/family.ts) and reports here how that
// went. A waiting step ends when the child tells this run that it ended (childEnded), never by
// polling. Creating is idempotent: the child's id derives from (parent, step, undo count), so a
// repeated creation (a retried dispatch, a crash before the result was recorded) finds its child.
import { backoffDelay } from "../../../execution/backoff";
import { stepError, type StepError } from "../../../execution/step-error";
import { runEnded } from "../../../execution/statuses";
import { AGENT_TOOL } from "../../../tools/agent-run/tool-patterns";
import { advance } from "./decide";
import type { Work } from "./executors/executor";
import type { Machine } from "./machine";
import { agentCall } from "./queries";
import { TERMINAL_RUN, type AgentCallState, type LlmUsage, type RunState, type StepState } from "./state";
import { fail, failForGood, findWork, succeed as succeedWork } from "./work";

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
  /** The agent's call that started it (a nested agent); absent for a Run.start step's child. */
  call?: number;
  /** A nested agent: what its model calls used (its own nested agents' included), for the caller's budget. */
  llm_usage?: LlmUsage;
}

export type ChildStart = { ok: true; child: ChildOutcome } | { ok: false; reason: "at_capacity" | "not_started" | "unreachable"; error: StepError };

/**
 * The key the child's run id derives from: a step re-run after its effect was undone starts a new
 * child; an agent's call to Agent.run has its own (calls are numbered across the step's turns).
 */
export const childKey = (state: RunState, s: StepState, call?: number): string =>
  `child:${state.run_id}:${s.step_number}:${s.undone}${s.generation ? `:g${s.generation}` : ""}${call === undefined ? "" : `:c${call}`}`;

/** Does this work wait for its child (Run.start's `wait`, true unless given false; a nested agent always does)? */
const waits = (w: { resolved_input: unknown }): boolean => (w.resolved_input as { wait?: unknown } | null)?.wait !== false;
export const waitsForChild = (s: StepState): boolean => waits(s);

/** The work that starts a child: a Run.start step, or an agent's call to Agent.run. */
export type ChildWork = Extract<Work, { kind: "step" } | { kind: "call" }>;

/** The call of an agent step that started a nested agent, if `call` names one. */
const callOf = (s: StepState | undefined, call: number): AgentCallState | undefined =>
  s?.agent && agentCall(s, call)?.tool === AGENT_TOOL ? agentCall(s, call) : undefined;

/** The work waiting for a child: the step (or its agent's call) if it still runs (for `dispatch`, when given). */
function running(m: Machine, step: number, call: number | undefined, dispatch?: number): ChildWork | undefined {
  if (TERMINAL_RUN.has(m.state.status)) return undefined;
  const s = m.state.steps.get(step);
  const work: ChildWork | undefined =
    call === undefined ? (s ? { kind: "step", s } : undefined) : callOf(s, call) && { kind: "call", s: callOf(s, call)!, step: s! };
  if (!work || work.s.status !== "running") return undefined;
  return dispatch === undefined || work.s.dispatch_seq === dispatch ? work : undefined;
}

/** The work's child link, if the child is known. */
const linked = (m: Machine, w: ChildWork, runId: string) =>
  m.state.children.find((c) => c.step === (w.kind === "call" ? w.step : w.s).step_number && c.run_id === runId && c.call === callNumber(w));

const callNumber = (w: ChildWork): number | undefined => (w.kind === "call" ? w.s.call : undefined);
const callField = (call: number | undefined) => (call === undefined ? {} : { call });

/** The Run.start step or Agent.run call a dispatch of `step` began (null: none, or some other work). */
export function childWorkOf(state: RunState, step: number, dispatch: number): ChildWork | null {
  const found = findWork(state, step, dispatch);
  if (!("work" in found)) return null;
  const w = found.work;
  if (w.kind === "call" && w.s.tool === AGENT_TOOL) return w;
  return w.kind === "step" ? w : null;
}

/** The run object tried to create the child for `dispatch`: record the child, or why there is none. */
export function childCreated(m: Machine, step: number, dispatch: number, start: ChildStart, call?: number): void {
  if (start.ok) {
    const { child } = start;
    const s = m.state.steps.get(step);
    const current = running(m, step, call, dispatch);
    // Whatever became of the step meanwhile, the child exists and is this run's: it is listed (and
    // cancelled with this run if this run has ended badly).
    if (!m.state.children.some((c) => c.run_id === child.run_id))
      m.emit("child.started", {
        step,
        ...callField(call),
        run_id: child.run_id,
        wait: current ? waits(current.s) : s ? waitsForChild(s) : true,
        status: child.status,
      });
    if (!current) return;
    if (!waits(current.s)) succeed(m, current, { run_id: child.run_id });
    else if (runEnded(child.status)) endWithChild(m, current, child);
    advance(m);
    return;
  }
  const current = running(m, step, call, dispatch);
  if (!current) return;
  if (start.reason === "at_capacity" && current.kind === "step") {
    // Refused by the tenant's cap: not a failure. The step waits (the attempt is given back) and the
    // watchdog tries again later, backing off.
    const { options } = m.state;
    const s = current.s;
    const delay = backoffDelay(
      { initialMs: Math.max(CAP_RETRY_MIN_MS, options.initial_delay_ms), maxMs: options.max_delay_ms, jitter: false },
      s.deferrals + 1,
    );
    m.emit("step.deferred", { step, attempt: s.attempt, error: start.error, retry_at: m.now + delay });
  } else fail(m, current, start.error);
  advance(m);
}

/**
 * A child says it ended (the caller checked it is this run's child for `notice.step` and
 * `notice.call`). Recorded once; the waiting step (or agent call) succeeds or fails with it. A
 * child that ended before its creation was recorded here (it ran inline inside its create) is linked now.
 */
export function childEnded(m: Machine, notice: ChildNotice): void {
  const link = m.state.children.find((c) => c.run_id === notice.run_id);
  if (link && runEnded(link.status)) return;
  const current = running(m, notice.step, notice.call);
  if (!link) {
    if (!current) return;
    m.emit("child.started", { step: notice.step, ...callField(notice.call), run_id: notice.run_id, wait: waits(current.s), status: notice.status });
  } else {
    m.emit("child.ended", { step: notice.step, ...callField(notice.call), run_id: notice.run_id, status: notice.status });
  }
  if (!current || !linked(m, current, notice.run_id)) return;
  // A nested agent's spend is the calling step's too: its next model call's budget check sees it.
  if (notice.call !== undefined && notice.llm_usage)
    m.emit("agent.nested_usage", { step: notice.step, call: notice.call, run_id: notice.run_id, ...notice.llm_usage });
  if (!waits(current.s)) succeed(m, current, { run_id: notice.run_id });
  else endWithChild(m, current, notice);
  advance(m);
}

const succeed = (m: Machine, w: ChildWork, output: unknown) => succeedWork(m, w, output);

/**
 * Waiting work ends as its child did: completed succeeds with its result; failed or cancelled
 * fails for good, naming the child (an agent's call gives that error to its model).
 */
function endWithChild(m: Machine, w: ChildWork, child: ChildOutcome): void {
  if (child.status === "completed") {
    succeed(m, w, { run_id: child.run_id, status: child.status, result: child.result ?? null });
    return;
  }
  const why = child.error ? `${child.error.message} (${child.error.code})` : "no reason given";
  const error =
    child.status === "cancelled"
      ? stepError("child_cancelled", `Child run ${child.run_id} was cancelled: ${why}`)
      : stepError("child_failed", `Child run ${child.run_id} failed: ${why}`);
  failForGood(m, w, w.s.attempt, error);
}

/** Child runs that this run, now ended failed or cancelled, still has to cancel (those not known to have ended). */
export function childrenToCancel(state: RunState): string[] {
  if (state.status !== "failed" && state.status !== "cancelled") return [];
  return state.children.filter((c) => !runEnded(c.status)).map((c) => c.run_id);
}
