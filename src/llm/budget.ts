// A step's budget, checked before each model call. The call's output is capped (`max_tokens`) at
// what the budget has left, and a call is made only if even its worst case fits: the prompt's
// estimated input tokens plus the capped output, in tokens and in dollars. The tenant's daily
// reservation for a call is that same worst case in dollars (settled to the actual cost after).
import { z } from "zod";
import type { Usage } from "./usage";
import { costOf, type ModelPrice } from "./prices";
import { BYTES_PER_TOKEN } from "./token-estimate";

export const stepBudgetSchema = z.strictObject({
  max_tokens: z.number().int().positive().optional().describe("Input plus output tokens the whole step may use"),
  max_cost_usd: z.number().positive().finite().optional().describe("USD the whole step may spend (needs a price in LLM_PRICES)"),
});
export type StepBudget = z.infer<typeof stepBudgetSchema>;

/** A call's output when neither the step nor the model says otherwise. */
export const DEFAULT_MAX_OUTPUT_TOKENS = 4096;
/** Below this many output tokens a call is not worth making: the model cannot say anything useful. */
export const MIN_USEFUL_OUTPUT_TOKENS = 16;

const encoder = new TextEncoder();

/**
 * The prompt's input tokens, estimated before the call. Two estimates, the larger wins:
 * - UTF-8 bytes / 3 (see token-estimate.ts);
 * - when an earlier call of the step reported its input tokens, that count scaled by how much the
 *   prompt grew since, which calibrates the estimate to the model's own tokenizer.
 */
export function estimatePromptTokens(prompt: string, calibration?: { input_tokens: number; prompt_bytes: number }): number {
  const bytes = encoder.encode(prompt).byteLength;
  const byBytes = Math.ceil(bytes / BYTES_PER_TOKEN);
  if (!calibration || calibration.prompt_bytes <= 0) return byBytes;
  return Math.max(byBytes, Math.ceil((calibration.input_tokens * bytes) / calibration.prompt_bytes));
}

export type CallPlan =
  { ok: true; max_tokens: number; worst_case: Usage; worst_case_usd: number | null } | { ok: false; reason: "tokens" | "cost"; detail: string };

/**
 * Whether the next call can be afforded, and its output cap. `price` is needed when the budget
 * has `max_cost_usd` (creation refuses a dollar budget for a model with no price); without one the
 * dollar side is not checked and `worst_case_usd` is null.
 */
export function planCall(args: {
  budget: StepBudget | undefined;
  spent: Usage;
  prompt_tokens: number;
  price: ModelPrice | undefined;
  default_max_tokens?: number;
}): CallPlan {
  const { budget, spent, prompt_tokens: prompt, price } = args;
  let cap = args.default_max_tokens ?? DEFAULT_MAX_OUTPUT_TOKENS;
  if (budget?.max_tokens !== undefined) {
    const left = budget.max_tokens - spent.input_tokens - spent.output_tokens - prompt;
    cap = Math.min(cap, left);
    if (cap < MIN_USEFUL_OUTPUT_TOKENS) {
      return {
        ok: false,
        reason: "tokens",
        detail: `the step has ${budget.max_tokens - spent.input_tokens - spent.output_tokens} tokens left and the prompt alone is about ${prompt}`,
      };
    }
  }
  if (budget?.max_cost_usd !== undefined && price) {
    const spentUsd = costOf(price, spent);
    const leftUsd = budget.max_cost_usd - spentUsd - costOf(price, { input_tokens: prompt, output_tokens: 0 });
    if (price.output_per_million > 0) cap = Math.min(cap, Math.floor((leftUsd * 1_000_000) / price.output_per_million));
    else if (leftUsd < 0) cap = 0;
    if (cap < MIN_USEFUL_OUTPUT_TOKENS) {
      return {
        ok: false,
        reason: "cost",
        detail: `the step has $${(budget.max_cost_usd - spentUsd).toFixed(6)} left, too little for a call with a prompt of about ${prompt} tokens`,
      };
    }
  }
  const worst: Usage = { input_tokens: prompt, output_tokens: cap };
  return { ok: true, max_tokens: cap, worst_case: worst, worst_case_usd: price ? costOf(price, worst) : null };
}

/**
 * What the tenant's daily cap holds back for a call before it is made: its worst case in dollars.
 * A model with no price costs nothing against the cap (the cap counts dollars).
 */
export function reservationUsd(plan: CallPlan): number {
  return plan.ok ? (plan.worst_case_usd ?? 0) : 0;
}

/** Why a budget cannot be enforced for a model (a dollar budget needs its price), or null when it can: creation answers 400 with it. */
export function unenforceableBudget(budget: StepBudget | undefined, model: string, price: ModelPrice | undefined): string | null {
  if (budget?.max_cost_usd !== undefined && !price) return `budget.max_cost_usd needs a price for the model '${model}' in LLM_PRICES`;
  return null;
}
