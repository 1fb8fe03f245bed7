// A nested agent's budget and spend. An agent step's budget is for the whole step, so the child run
// an Agent.run call starts may spend no more than the step has left: its budget is the smaller of
// what the call asked for and the step's remainder, shared equally among the nested agents its turn
// runs at once (so together they cannot cross it). When the child ends it tells the step what it
// used (agent.nested_usage), and the step's next model call is checked against both.
import type { StepBudget } from "../../../../llm/budget";
import type { AgentInput } from "../../../../tools/agent-run/agent-input";
import { AGENT_TOOL } from "../../../../tools/agent-run/tool-patterns";
import { addUsage, stepSpend } from "../queries";
import type { LlmUsage, RunState, StepState } from "../state";

/** The budget of a nested agent the agent step `step` starts (undefined: the step has none, and the call asked for none). */
export function nestedBudget(step: StepState, asked: StepBudget | undefined): StepBudget | undefined {
  const own = (step.resolved_input as AgentInput).budget;
  if (!own || !step.agent) return asked;
  const spent = stepSpend(step.agent);
  const turn = step.agent.turns.at(-1);
  const sharing = Math.max(1, (turn?.calls ?? []).filter((c) => c.tool === AGENT_TOOL && c.status === "running").length);
  const budget: StepBudget = { ...asked };
  if (own.max_tokens !== undefined) {
    // At least 1: a budget must be positive, and a child with 1 token cannot afford a call, so it spends nothing.
    const left = Math.max(1, Math.floor((own.max_tokens - spent.input_tokens - spent.output_tokens) / sharing));
    budget.max_tokens = Math.min(asked?.max_tokens ?? left, left);
  }
  if (own.max_cost_usd !== undefined) {
    const left = Math.max(Number.MIN_VALUE, (own.max_cost_usd - spent.cost_usd) / sharing);
    budget.max_cost_usd = Math.min(asked?.max_cost_usd ?? left, left);
  }
  return budget;
}

/** What a run's agent steps used in all, nested agents included: what a nested agent tells its caller when it ends. */
export function agentsSpend(state: RunState): LlmUsage {
  let total: LlmUsage = { input_tokens: 0, output_tokens: 0, cost_usd: 0 };
  for (const s of state.steps.values()) if (s.agent) total = addUsage(total, stepSpend(s.agent));
  return total;
}
