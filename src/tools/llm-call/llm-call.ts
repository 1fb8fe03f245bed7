// LLM.call: one model call of an Agent.run step, run by a queue consumer like any step that does
// I/O (a model answers in seconds or minutes, and a run object waiting on it would be billed for
// the wait). It is never planned: only the agent loop dispatches it. It counts as a tool with
// effects, so a duplicate delivery is turned away by the pre-flight and a model call whose answer
// is recorded is never made again. Before the call, the tenant's daily cap holds back the call's
// worst case (LlmBudget); after it, the reservation is settled to what the call cost.
import { z } from "zod";
import { stepError } from "../../execution/step-error";
import { errorFields, log } from "../../lib/log";
import { callModel, modelCallConfig, modelCallInputSchema } from "../../llm/model-call";
import { costOf } from "../../llm/prices";
import { fail, ok, queueTool, type ToolContext, type ToolResult } from "../tool";

export const LLM_CALL_TOOL = "LLM.call";

/** How often a call the tenant's cap turned away asks again (the cap may be raised before the day ends). */
export const BUDGET_RECHECK_MS = 60_000;

export const llmCallInputSchema = modelCallInputSchema.extend({
  /** The call's worst case in USD, held back against the tenant's daily cap (0: the model has no price). */
  reservation_usd: z.number().nonnegative().default(0),
  /** The reservation's key: one per (run, step, turn), so a retry of the turn reuses it. */
  reservation_key: z.string().min(1).optional(),
  /** USD per million tokens, to settle the reservation to the call's actual cost. */
  price: z.object({ input_per_million: z.number().nonnegative(), output_per_million: z.number().nonnegative() }).optional(),
  /** The prompt's size in bytes, recorded with the call to calibrate the next estimate. */
  prompt_bytes: z.number().int().nonnegative().optional(),
});

/** The tenant's daily cap (LlmBudget, one object per tenant: reservations are taken in one strongly consistent place). */
const budgetOf = (ctx: ToolContext) => ctx.env.LLM_BUDGET.getByName(ctx.tenant);
const utcDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

async function reserve(ctx: ToolContext, key: string, usd: number): Promise<ToolResult | null> {
  const now = Date.now();
  const answer = await budgetOf(ctx).reserve(key, usd, utcDay(now));
  if (answer.granted) return null;
  if ("invalid" in answer) return fail(stepError("tool_crashed", `The tenant's LLM budget refused the reservation: ${answer.invalid}`));
  // The cap is reached: the call waits (it is given back, not failed) until the next day, asking
  // again every minute in case the cap is raised; the run's deadline bounds the wait.
  const retryAt = Math.min(Date.parse(answer.retry_at), now + BUDGET_RECHECK_MS);
  const message = `The tenant's daily LLM budget ($${answer.cap_usd}) has $${Math.max(0, answer.cap_usd - answer.spent_usd).toFixed(6)} left, less than this call's worst case ($${usd.toFixed(6)}).`;
  return { success: false, error: stepError("llm_budget_exhausted", message), retry_at: retryAt };
}

export const llmCall = queueTool({
  name: LLM_CALL_TOOL,
  description: "One model call of an Agent.run step (dispatched by the agent loop, never planned).",
  input_schema: llmCallInputSchema,
  effects: true,
  async execute(input, ctx) {
    const config = modelCallConfig(ctx.env, input.model);
    if (!config)
      return fail(stepError("model_not_configured", `No model is configured for "${input.model}" (set LLM_MODEL and LLM_BASE_URL, or the AI binding).`));
    const key = input.reservation_key;
    if (input.reservation_usd > 0 && key) {
      const refused = await reserve(ctx, key, input.reservation_usd);
      if (refused) return refused;
    }
    const deltas: Promise<unknown>[] = [];
    const run = ctx.env.RUNS.getByName(ctx.run_id);
    const outcome = await callModel(config, ctx.env, input, {
      signal: ctx.signal,
      // Streamed text goes to the run's log as it comes; a delta that fails to arrive is only a
      // gap in what a watcher saw (the whole text is in the recorded answer).
      onDelta: (text) => deltas.push(run.llmDelta(ctx.step_number, ctx.dispatch, text).catch((err: unknown) => log.debug("llm.delta_lost", errorFields(err)))),
    });
    await Promise.all(deltas);
    if (input.reservation_usd > 0 && key && input.price) {
      // What the call cost replaces what was held back; a failed call cost what it reported (nothing here).
      const actual = outcome.ok ? costOf(input.price, outcome.result.usage) : 0;
      await budgetOf(ctx)
        .settle(key, actual)
        .catch((err: unknown) => log.warn("llm.settle_failed", { run_id: ctx.run_id, key, ...errorFields(err) }));
    }
    return outcome.ok ? ok(outcome.result) : fail(outcome.error);
  },
});
