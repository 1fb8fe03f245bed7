// A model call's input and result, as data: what the agent loop (in the run's pure domain) builds
// and records, and what a consumer runs through callModel (model-call.ts). Kept apart from the call
// itself, so the domain's imports never reach the AI SDK.
import { z } from "zod";
import type { StepError } from "../execution/step-error";
import { chatMessageSchema, toolCallSchema } from "./chat-messages";
import { usageSchema } from "./usage";

export const DEFAULT_MODEL_CALL_TIMEOUT_MS = 120_000;

export const offeredToolSchema = z.object({
  name: z.string().min(1),
  description: z.string(),
  /** The tool's input as JSON Schema (an object schema). */
  input_schema: z.record(z.string(), z.unknown()),
});
export type OfferedTool = z.infer<typeof offeredToolSchema>;

export const modelCallInputSchema = z.object({
  model: z.string().min(1),
  system: z.string(),
  messages: z.array(chatMessageSchema).min(1),
  tools: z.array(offeredToolSchema),
  max_tokens: z.number().int().positive(),
  timeout_ms: z.number().int().positive().default(DEFAULT_MODEL_CALL_TIMEOUT_MS),
});
export type ModelCallInput = z.input<typeof modelCallInputSchema>;

export const modelCallResultSchema = z.object({
  text: z.string(),
  tool_calls: z.array(toolCallSchema),
  usage: usageSchema,
  /** True when the provider reported no usage and it was estimated (see token-estimate.ts). */
  usage_estimated: z.boolean(),
  finish_reason: z.enum(["stop", "length", "tool_calls", "content_filter", "other"]),
});
export type ModelCallResult = z.infer<typeof modelCallResultSchema>;
export type ModelCallOutcome = { ok: true; result: ModelCallResult } | { ok: false; error: StepError };
