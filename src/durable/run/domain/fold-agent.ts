// The fold of an Agent.run step's loop: its turns, each turn's model call and the tool calls the
// model asked for, each with its attempts (recorded by the same helpers as a step's, see
// fold-attempt.ts). Part of the run's fold (fold.ts spreads these handlers).
import { waitsOnBreaker } from "../../../execution/step-error";
import { addUsage, agentAttempts, agentCall } from "./queries";
import { beginAttempt, clearDeadlines, giveBack, waitToRetry } from "./fold-attempt";
import { noAttempt, type AttemptState, type AgentCallState, type AgentState, type AgentTurn, type Handlers, type RunState, type StepState } from "./state";

export const LLM_CALL = "LLM.call";

export const newAgent = (): AgentState => ({
  turns: [],
  usage: { input_tokens: 0, output_tokens: 0, cost_usd: 0 },
  nested: { input_tokens: 0, output_tokens: 0, cost_usd: 0 },
  calls: 0,
  calibration: null,
});

function agentStep(state: RunState, n: number): StepState & { agent: AgentState } {
  const s = state.steps.get(n);
  if (!s) throw new Error(`event refers to unknown step ${n}`);
  s.agent ??= newAgent();
  return s as StepState & { agent: AgentState };
}

function turnOf(state: RunState, n: number, t: number): AgentTurn {
  const turn = agentStep(state, n).agent.turns[t - 1];
  if (!turn) throw new Error(`event refers to unknown turn ${t} of step ${n}`);
  return turn;
}

function callOf(state: RunState, n: number, c: number): AgentCallState {
  const found = agentCall(agentStep(state, n), c);
  if (!found) throw new Error(`event refers to unknown call ${c} of step ${n}`);
  return found;
}

/**
 * An agent step waits (and its run with it) while nothing of it runs and something of it waits
 * for the outside: a call for a person's decision, or its model call for the tenant's daily cap.
 */
/** An agent step's model call or tool call whose current attempt is `dispatch` (for step.resent). */
export const agentWorkByDispatch = (s: StepState, dispatch: number): AttemptState | undefined => agentAttempts(s).find((w) => w.s.dispatch_seq === dispatch)?.s;

export function syncAgentStatus(s: StepState): void {
  if (!s.agent || (s.status !== "running" && s.status !== "waiting")) return;
  const turn = s.agent.turns.at(-1);
  if (!turn) return void (s.status = "running");
  const running = turn.model.status === "running" || turn.calls.some((c) => c.status === "running");
  const waits = turn.calls.some((c) => c.status === "waiting") || (turn.model.status === "pending" && waitsOnBreaker(turn.model.error));
  s.status = !running && waits ? "waiting" : "running";
}

function newCall(turn: number, call: number, tool: string, input: unknown): AgentCallState {
  return {
    step_number: 0,
    tool,
    // As the model wrote it: the tool's schema checks it when the call starts, and the transcript shows it as it was.
    input: input as Record<string, unknown>,
    ...noAttempt(),
    call,
    turn,
    status: "pending",
    comment: null,
    approved: false,
    succeeded_seq: null,
    duration_ms: null,
  };
}

type AgentEvents =
  | "agent.turn_started"
  | "llm.call_started"
  | "llm.call_began"
  | "llm.delta"
  | "llm.call_succeeded"
  | "llm.call_failed"
  | "agent.call_started"
  | "agent.call_waiting"
  | "agent.call_decided"
  | "agent.call_forbidden"
  | "agent.call_succeeded"
  | "agent.call_failed"
  | "agent.repair_requested"
  | "agent.nested_usage"
  | "agent.finished"
  | "agent.budget_exceeded"
  | "agent.max_turns_exceeded";

const handlers: Pick<Handlers, AgentEvents> = {
  "agent.turn_started": (state, d) => {
    const s = agentStep(state, d.step);
    const model = { step_number: d.step, tool: LLM_CALL, input: {}, ...noAttempt(), turn: d.turn, status: "pending" as const, began: false };
    s.agent.turns.push({ turn: d.turn, model, text: "", usage: null, calls: [], repair: null, prompt_bytes: 0 });
  },
  "llm.call_started": (state, d, at, seq) => {
    const turn = turnOf(state, d.step, d.turn);
    beginAttempt(turn.model, { attempt: d.attempt, input: null }, at, seq);
    turn.model.status = "running";
    turn.model.began = false;
    turn.model.lease_until = d.lease_until;
    turn.model.resend_at = d.resend_at ?? null;
    turn.text = "";
    turn.prompt_bytes = d.prompt_bytes;
  },
  "llm.call_began": (state, d) => {
    turnOf(state, d.step, d.turn).model.began = true;
  },
  "llm.delta": (state, d) => {
    turnOf(state, d.step, d.turn).text += d.text;
  },
  "llm.call_succeeded": (state, d, at) => {
    const s = agentStep(state, d.step);
    const turn = turnOf(state, d.step, d.turn);
    turn.model.status = "succeeded";
    turn.model.error = null;
    turn.model.completed_at = at;
    turn.model.deferred_since = null;
    clearDeadlines(turn.model);
    turn.text = d.text;
    turn.usage = { ...d.usage, cost_usd: d.cost_usd };
    s.agent.usage = addUsage(s.agent.usage, turn.usage);
    if (!d.usage_estimated) s.agent.calibration = { input_tokens: d.usage.input_tokens, prompt_bytes: turn.prompt_bytes };
    for (const c of d.tool_calls) {
      s.agent.calls += 1;
      const fresh = newCall(d.turn, s.agent.calls, c.tool, c.input);
      fresh.step_number = d.step;
      turn.calls.push(fresh);
    }
  },
  "llm.call_failed": (state, d, at) => {
    const turn = turnOf(state, d.step, d.turn);
    if (d.retry_at === undefined) {
      turn.model.status = "failed";
      turn.model.error = d.error;
      turn.model.completed_at = at;
      clearDeadlines(turn.model);
      return;
    }
    if (!d.deferred) turn.model.deferred_since = null;
    waitToRetry(turn.model, d.error, d.retry_at);
    if (d.deferred) giveBack(turn.model, at);
  },
  "agent.call_started": (state, d, at, seq) => {
    const c = callOf(state, d.step, d.call);
    beginAttempt(c, d, at, seq);
    c.status = "running";
    c.lease_until = d.lease_until ?? null;
    c.resend_at = d.resend_at ?? null;
    c.wake_at = d.wake_at ?? null;
  },
  "agent.call_waiting": (state, d) => {
    callOf(state, d.step, d.call).status = "waiting";
  },
  "agent.call_decided": (state, d, at) => {
    const c = callOf(state, d.step, d.call);
    c.comment = d.comment;
    if (d.decision === "approve") {
      c.approved = true;
      c.status = "pending";
      return;
    }
    c.status = "rejected";
    c.completed_at = at;
  },
  "agent.call_forbidden": (state, d, at) => {
    const c = callOf(state, d.step, d.call);
    c.status = "forbidden";
    c.comment = d.reason;
    c.completed_at = at;
  },
  "agent.call_succeeded": (state, d, at, seq) => {
    const c = callOf(state, d.step, d.call);
    c.status = "succeeded";
    c.output = d.output;
    c.error = null;
    c.completed_at = at;
    c.duration_ms = d.duration_ms;
    c.succeeded_seq = seq;
    c.deferred_since = null;
    clearDeadlines(c);
  },
  "agent.call_failed": (state, d, at) => {
    const c = callOf(state, d.step, d.call);
    if (d.retry_at === undefined) {
      c.status = "failed";
      c.error = d.error;
      c.completed_at = at;
      c.attempt = Math.max(c.attempt, d.attempt);
      clearDeadlines(c);
      return;
    }
    if (!d.deferred) c.deferred_since = null;
    waitToRetry(c, d.error, d.retry_at);
    if (d.deferred) giveBack(c, at);
  },
  "agent.repair_requested": (state, d) => {
    turnOf(state, d.step, d.turn).repair = d.repair;
  },
  "agent.nested_usage": (state, d) => {
    const agent = agentStep(state, d.step).agent;
    agent.nested = addUsage(agent.nested, d);
  },
  // The step's own end is recorded by step.succeeded / step.failed right after these.
  "agent.finished": () => {},
  "agent.budget_exceeded": () => {},
  "agent.max_turns_exceeded": () => {},
};

/** After every agent event, the step's status follows its loop (waiting or running). */
export const agentHandlers: Pick<Handlers, AgentEvents> = Object.fromEntries(
  Object.entries(handlers).map(([type, h]) => [
    type,
    (state: RunState, d: { step: number }, at: string, seq: number) => {
      (h as (s: RunState, d: unknown, at: string, seq: number) => void)(state, d, at, seq);
      const s = state.steps.get(d.step);
      if (s) syncAgentStatus(s);
    },
  ]),
) as unknown as Pick<Handlers, AgentEvents>;
