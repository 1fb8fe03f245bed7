// An Agent.run step's loop, as decisions. A turn is one model call and the tool calls it asks for;
// each is work of its own under the one attempt protocol (work.ts, handed in as `ops`), so a model
// call whose answer is recorded is never made again, and a tool call goes through its tool's
// executor, breaker, pre-flight and idempotency key like a plan step. The loop ends when the model
// answers without tool calls, at max_turns, or at the step's budget; the engine checks the budget
// before each call and never makes one it cannot afford.
import { stepError, type StepError } from "../../../../execution/step-error";
import type { AgentInput } from "../../../../tools/agent-run/agent-input";
import { checkAnswer } from "../../../../tools/agent-run/answer-check";
import { needsApproval } from "../../../../tools/agent-run/tool-patterns";
import type { WorkOps } from "../executors/executor";
import type { Machine } from "../machine";
import { stepSpend } from "../queries";
import type { AgentCallState, AgentState, AgentTurn, StepState } from "../state";
import { modelCallInput, refusal } from "./model-input";

type AgentStep = StepState & { agent: AgentState };

const ENDED = new Set(["succeeded", "failed", "rejected", "forbidden"]);
const callEnded = (c: AgentCallState) => ENDED.has(c.status);

export function advanceAgent(m: Machine, s: StepState, ops: WorkOps): void {
  if (!s.agent) return;
  const step = s as AgentStep;
  const input = step.resolved_input as AgentInput;
  // Each pass either returns (waiting on work in flight) or records something that moves the loop
  // on; an inline tool's calls end at once, so a turn may end and the next begin in one command.
  for (let guard = 0; guard < 1000 && (step.status === "running" || step.status === "waiting"); guard++) {
    const turn = step.agent.turns.at(-1);
    if (!turn) {
      if (!beginTurn(m, step, input, ops)) return;
      continue;
    }
    const model = turn.model;
    if (model.status === "pending") {
      if (model.retry_at === null || model.retry_at <= m.now) ops.start(m, { kind: "model", s: model, step });
      return;
    }
    if (model.status === "running") return;
    if (model.status === "failed") return failStep(m, step, ops, model.error ?? stepError("step_failed", "The model call failed."));
    if (turn.calls.length === 0) {
      if (!answer(m, step, input, turn, ops)) return;
      continue;
    }
    runCalls(m, step, input, turn, ops);
    if (!turn.calls.every(callEnded)) return;
    if (!beginTurn(m, step, input, ops)) return;
  }
}

const failStep = (m: Machine, s: AgentStep, ops: WorkOps, error: StepError) => ops.failForGood(m, { kind: "step", s }, s.attempt, error);

/** Starts the next turn, unless max_turns or the budget ends the loop; answers whether it did. */
function beginTurn(m: Machine, s: AgentStep, input: AgentInput, ops: WorkOps): boolean {
  const done = s.agent.turns.length;
  if (done >= input.max_turns) {
    m.emit("agent.max_turns_exceeded", { step: s.step_number, turns: done });
    failStep(m, s, ops, stepError("max_turns_exceeded", `The model did not answer within max_turns (${input.max_turns}).`));
    return false;
  }
  const next = modelCallInput(m.state, s);
  if (!next.ok) {
    m.emit("agent.budget_exceeded", { step: s.step_number, reason: next.reason, detail: next.detail });
    failStep(
      m,
      s,
      ops,
      stepError("budget_exceeded", `The step's budget cannot afford another model call: ${next.detail}. The transcript so far is in the step's output.`),
    );
    return false;
  }
  m.emit("agent.turn_started", { step: s.step_number, turn: done + 1 });
  const turn = s.agent.turns.at(-1)!;
  ops.start(m, { kind: "model", s: turn.model, step: s });
  return true;
}

/** The model answered without tool calls: the step's answer, or (output_schema) one repair turn. Answers whether the loop goes on. */
function answer(m: Machine, s: AgentStep, input: AgentInput, turn: AgentTurn, ops: WorkOps): boolean {
  let value: unknown = turn.text;
  if (input.output_schema) {
    const repaired = s.agent.turns.some((t) => t.repair !== null);
    const checked = checkAnswer(turn.text, input.output_schema, repaired);
    if (!checked.ok && "repair" in checked) {
      m.emit("agent.repair_requested", { step: s.step_number, turn: turn.turn, repair: checked.repair });
      return beginTurn(m, s, input, ops);
    }
    if (!checked.ok) {
      failStep(m, s, ops, stepError("invalid_output", checked.message));
      return false;
    }
    value = checked.answer;
  }
  const toolCalls = s.agent.calls;
  m.emit("agent.finished", { step: s.step_number, turns: s.agent.turns.length, tool_calls: toolCalls });
  ops.succeed(m, { kind: "step", s }, { answer: value, turns: s.agent.turns.length, tool_calls: toolCalls, usage: stepSpend(s.agent) });
  return false;
}

/**
 * Starts the turn's calls that may start: in parallel, within the run's max_parallelism. A call to
 * a tool the agent may not use is refused (the model is told); one that needs a person waits.
 */
function runCalls(m: Machine, s: AgentStep, input: AgentInput, turn: AgentTurn, ops: WorkOps): void {
  let running = turn.calls.filter((c) => c.status === "running").length;
  for (const c of turn.calls) {
    if (c.status !== "pending" || (c.retry_at !== null && c.retry_at > m.now)) continue;
    const refused = refusal(input, c.tool);
    if (refused) {
      m.emit("agent.call_forbidden", { step: s.step_number, turn: turn.turn, call: c.call, tool: c.tool, input: c.input, reason: refused });
      continue;
    }
    if (needsApproval(input.approve, c.tool) && !c.approved) {
      m.emit("agent.call_waiting", { step: s.step_number, turn: turn.turn, call: c.call, tool: c.tool, input: c.input });
      continue;
    }
    if (running >= m.state.options.max_parallelism) return;
    ops.start(m, { kind: "call", s: c, step: s });
    if ((c.status as string) === "running") running += 1;
  }
}

/** A queued call may be acting outside the run: a cancel waits for it. */
export const agentEffectInFlight = (s: StepState): boolean =>
  (s.agent?.turns.at(-1)?.calls ?? []).some((c) => c.status === "running" && c.lease_until !== null);
