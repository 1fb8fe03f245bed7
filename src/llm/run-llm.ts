// What a run with Agent.run steps needs from the deployment, settled when it is created: a model
// that is configured for each agent, and a price for each model a dollar budget names. The default
// model and the prices are recorded in run.created, so the run decides the same way on replay
// whatever the configuration becomes (a price change applies to runs created after it).
import type { Plan } from "../execution/plan-schema";
import { llmConfig } from "../planner/llm/llm-config";
import { AGENT_TOOL } from "../tools/agent-run/tool-patterns";
import { unenforceableBudget, type StepBudget } from "./budget";
import { modelCallConfig } from "./model-call";
import { LlmConfigurationError, parsePrices, priceOf, type ModelPrice } from "./prices";

export interface RunLlm {
  model: string;
  prices: Record<string, ModelPrice>;
}

export type RunLlmOutcome = { ok: true; llm?: RunLlm } | { ok: false; code: "model_not_configured" | "invalid_plan"; message: string };

export function runLlmFor(env: Env, plan: Pick<Plan, "steps">): RunLlmOutcome {
  const agents = plan.steps.filter((s) => s.tool === AGENT_TOOL);
  if (agents.length === 0) return { ok: true };
  const config = llmConfig(env);
  const numbers = agents.map((s) => s.step_number).join(", ");
  if (!config) {
    const message = `Step ${numbers} is an Agent.run, and no model is configured: set LLM_MODEL with LLM_BASE_URL (an OpenAI-compatible server such as Ollama) or with the AI binding (Workers AI).`;
    return { ok: false, code: "model_not_configured", message };
  }
  let prices;
  try {
    prices = parsePrices(env.LLM_PRICES);
  } catch (err) {
    if (!(err instanceof LlmConfigurationError)) throw err;
    return { ok: false, code: "model_not_configured", message: err.message };
  }
  const used: Record<string, ModelPrice> = {};
  for (const s of agents) {
    const model = typeof s.input.model === "string" ? s.input.model : config.model;
    if (!modelCallConfig(env, model)) {
      return { ok: false, code: "model_not_configured", message: `Step ${s.step_number} asks for the model "${model}", which this deployment cannot run.` };
    }
    const price = priceOf(prices, model);
    const problem = unenforceableBudget(s.input.budget as StepBudget | undefined, model, price);
    if (problem) return { ok: false, code: "invalid_plan", message: `Step ${s.step_number}: ${problem}.` };
    if (price) used[model] = price;
  }
  return { ok: true, llm: { model: config.model, prices: used } };
}
