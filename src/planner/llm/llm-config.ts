import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import type { LanguageModel } from "ai";
import { createWorkersAI } from "workers-ai-provider";

/**
 * Which model plans, chosen by configuration: an OpenAI-compatible endpoint (Ollama, LM Studio,
 * vLLM, OpenAI: LLM_BASE_URL + LLM_MODEL, secret LLM_API_KEY), or Workers AI (the AI binding and an
 * `@cf/...` LLM_MODEL). Neither configured: the rule planner alone, the local default.
 */
export interface LlmConfig {
  kind: "openai-compatible" | "workers-ai";
  model: string;
  baseURL?: string;
  apiKey?: string;
  budgetMs: number;
}

export const DEFAULT_BUDGET_MS = 10_000;

export function llmConfig(env: Env): LlmConfig | null {
  const model = env.LLM_MODEL?.trim();
  if (!model) return null;
  const budget = Number(env.PLANNER_BUDGET_MS);
  const budgetMs = Number.isFinite(budget) && budget > 0 ? budget : DEFAULT_BUDGET_MS;
  const baseURL = env.LLM_BASE_URL?.trim();
  if (baseURL) return { kind: "openai-compatible", model, baseURL, budgetMs, ...(env.LLM_API_KEY ? { apiKey: env.LLM_API_KEY } : {}) };
  if (env.AI && model.startsWith("@cf/")) return { kind: "workers-ai", model, budgetMs };
  return null;
}

/**
 * The AI SDK model for a configuration: the planner's and the agent loop's model calls both go
 * through here. `includeUsage` asks an OpenAI-compatible server for the token usage of a streamed
 * answer (`stream_options.include_usage`); without it a stream reports none.
 */
export function languageModel(config: LlmConfig, env: Env, options: { includeUsage?: boolean } = {}): LanguageModel {
  if (config.kind === "workers-ai") return createWorkersAI({ binding: env.AI! })(config.model);
  return createOpenAICompatible({
    name: "crane-llm",
    baseURL: config.baseURL!,
    ...(config.apiKey ? { apiKey: config.apiKey } : {}),
    supportsStructuredOutputs: true,
    ...(options.includeUsage ? { includeUsage: true } : {}),
  }).chatModel(config.model);
}
