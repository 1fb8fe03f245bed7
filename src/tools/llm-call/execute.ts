// What LLM.call does in a queue consumer. Before the call, the tenant's daily cap holds back the
// call's worst case (LlmBudget, one object per tenant, so reservations are exact under
// concurrency); after it, the reservation is settled to what the call cost. The model's text
// streams to the run as it is written (coalesced, see delta-coalescer.ts).
import { stepError } from "../../execution/step-error";
import { errorFields, log } from "../../lib/log";
import { callModel, modelCallConfig } from "../../llm/model-call";
import { costOf } from "../../llm/prices";
import { fail, ok, type ToolResult } from "../tool";
import { implement, type ToolContext } from "../tool-impl";
import { allowsTool } from "../agent-run/tool-patterns";
import { EMPTY_CATALOGUE, mcpCatalogue } from "../mcp/mcp-catalogue";
import type { OfferedTool } from "../../llm/model-call-schema";
import { llmCall } from "./spec";

/** How often a call the tenant's cap turned away asks again (the cap may be raised before the day ends); LLM_BUDGET_RECHECK_MS. */
const DEFAULT_BUDGET_RECHECK_MS = 60_000;
function recheckMs(env: Env): number {
  const n = Number(env.LLM_BUDGET_RECHECK_MS);
  return Number.isFinite(n) && n > 0 ? n : DEFAULT_BUDGET_RECHECK_MS;
}

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
  const retryAt = Math.min(Date.parse(answer.retry_at), now + recheckMs(ctx.env));
  const message = `The tenant's daily LLM budget ($${answer.cap_usd}) has $${Math.max(0, answer.cap_usd - answer.spent_usd).toFixed(6)} left, less than this call's worst case ($${usd.toFixed(6)}).`;
  return { success: false, error: stepError("llm_budget_exhausted", message), retry_at: retryAt };
}

/** The tools offered, plus the tenant's MCP tools the agent's patterns allow (read from the server store, cached per isolate). */
async function withMcpTools(ctx: ToolContext, tools: OfferedTool[], patterns: readonly string[]): Promise<OfferedTool[]> {
  const catalogue = await mcpCatalogue(ctx.env, ctx.tenant).catch((err: unknown) => {
    log.warn("llm.mcp_catalogue_unavailable", { run_id: ctx.run_id, ...errorFields(err) });
    return EMPTY_CATALOGUE;
  });
  const extra = [...catalogue.values()].filter((t) => allowsTool(patterns, t.name) && !tools.some((o) => o.name === t.name));
  return [...tools, ...extra];
}

export const llmCallImpl = implement(llmCall, {
  async execute(input, ctx) {
    const config = modelCallConfig(ctx.env, input.model);
    if (!config)
      return fail(stepError("model_not_configured", `No model is configured for "${input.model}" (set LLM_MODEL and LLM_BASE_URL, or the AI binding).`));
    const key = input.reservation_key;
    if (input.reservation_usd > 0 && key) {
      const refused = await reserve(ctx, key, input.reservation_usd);
      if (refused) return refused;
    }
    const offered = input.mcp_patterns?.length ? await withMcpTools(ctx, input.tools, input.mcp_patterns) : input.tools;
    const deltas: Promise<unknown>[] = [];
    const run = ctx.env.RUNS.getByName(ctx.run_id);
    const outcome = await callModel(
      config,
      ctx.env,
      { ...input, tools: offered },
      {
        signal: ctx.signal,
        streamToLog: true,
        // Nobody was watching when the call was sent: its text is not streamed (the answer has it all).
        stream: ctx.watched !== false,
        // Streamed text goes to the run's log as it comes; a delta that fails to arrive is only a
        // gap in what a watcher saw (the whole text is in the recorded answer).
        onDelta: (text) =>
          deltas.push(run.llmDelta(ctx.step_number, ctx.dispatch, text).catch((err: unknown) => log.debug("llm.delta_lost", errorFields(err)))),
      },
    );
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
