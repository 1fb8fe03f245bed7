// Everything an agent step decides before its next model call, in one pure function: the messages
// (from the recorded turns), the prompt's estimated tokens, whether the step's budget affords the
// call and its output cap, and what to reserve against the tenant's daily cap. The executor then
// reserves (LlmBudget.reserve), sends the input to a consumer (callModel), records the result and
// settles the reservation with the actual cost.
import { planCall, estimatePromptTokens, reservationUsd, type StepBudget } from "./budget";
import type { ModelCallInput, OfferedTool } from "./model-call-schema";
import type { ModelPrice } from "./prices";
import { buildMessages, type RecordedTurn } from "./transcript";
import type { Usage } from "./usage";

/** An earlier call's reported input tokens and the size of the prompt it was for (see estimatePromptTokens). */
export interface Calibration {
  input_tokens: number;
  prompt_bytes: number;
}

export interface NextCallArgs {
  goal: string;
  system?: string | undefined;
  turns: readonly RecordedTurn[];
  model: string;
  tools: readonly OfferedTool[];
  budget?: StepBudget | undefined;
  /** What the step's calls so far used, as reported. */
  spent: Usage;
  price?: ModelPrice | undefined;
  calibration?: Calibration | undefined;
  timeout_ms?: number;
}

export type NextCall =
  | {
      ok: true;
      input: ModelCallInput;
      /** The prompt's size, to calibrate the next estimate with this call's reported input tokens. */
      prompt_bytes: number;
      prompt_tokens_estimate: number;
      /** What to hold back against the tenant's daily cap (0 for a model with no price). */
      reservation_usd: number;
    }
  | { ok: false; reason: "tokens" | "cost"; detail: string };

const encoder = new TextEncoder();

export function prepareNextCall(args: NextCallArgs): NextCall {
  const { system, messages } = buildMessages({ goal: args.goal, system: args.system, turns: args.turns });
  // What is sent, near enough: the system prompt, the messages and the tools' schemas.
  const prompt = JSON.stringify({ system, messages, tools: args.tools });
  const promptTokens = estimatePromptTokens(prompt, args.calibration);
  const plan = planCall({ budget: args.budget, spent: args.spent, prompt_tokens: promptTokens, price: args.price });
  if (!plan.ok) return plan;
  return {
    ok: true,
    input: {
      model: args.model,
      system,
      messages,
      tools: [...args.tools],
      max_tokens: plan.max_tokens,
      ...(args.timeout_ms !== undefined ? { timeout_ms: args.timeout_ms } : {}),
    },
    prompt_bytes: encoder.encode(prompt).byteLength,
    prompt_tokens_estimate: promptTokens,
    reservation_usd: reservationUsd(plan),
  };
}

/** The tenant cap's reservation key for a model call: one per (run, step, turn), so a duplicate delivery or a retry of the same turn reuses it. */
export const llmReservationKey = (runId: string, step: number, turn: number) => `${runId}:${step}:${turn}`;
