// LLM.call, as the run sees it: one model call of an Agent.run step, run by a queue consumer like
// any step that does I/O (a model answers in seconds or minutes, and a run object waiting on it
// would be billed for the wait). It is never planned: only the agent loop dispatches it. It counts
// as a tool with effects, so a duplicate delivery is turned away by the pre-flight, and a model
// call whose answer is recorded is never made again. What it does is in execute.ts.
import { z } from "zod";
import { modelCallInputSchema } from "../../llm/model-call-schema";
import { queueTool } from "../tool";

export const LLM_CALL_TOOL = "LLM.call";

export const llmCallInputSchema = modelCallInputSchema.extend({
  /** The call's worst case in USD, held back against the tenant's daily cap (0: the model has no price). */
  reservation_usd: z.number().nonnegative().default(0),
  /** The reservation's key: one per (run, step, turn), so a retry of the turn reuses it. */
  reservation_key: z.string().min(1).optional(),
  /** USD per million tokens, to settle the reservation to the call's actual cost. */
  price: z.object({ input_per_million: z.number().nonnegative(), output_per_million: z.number().nonnegative() }).optional(),
  /**
   * The agent's `tools` patterns that may name a tenant's MCP tools ("mcp.github.*"): the consumer
   * adds the tools of the tenant's MCP servers they match to the offered ones (the run object
   * cannot read the tenant's catalogue; calls to them are checked against the patterns there).
   */
  mcp_patterns: z.array(z.string()).optional(),
  /** The prompt's size in bytes, recorded with the call to calibrate the next estimate. */
  prompt_bytes: z.number().int().nonnegative().optional(),
});

export const llmCall = queueTool({
  name: LLM_CALL_TOOL,
  description: "One model call of an Agent.run step (dispatched by the agent loop, never planned).",
  input_schema: llmCallInputSchema,
  effects: true,
});
