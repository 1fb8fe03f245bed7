// Turns a request into a validated plan. A prompt goes to the LLM planner when a model is
// configured, and to the rule planner when it is not or when the LLM fails (the plan records
// why); an explicit plan is taken as written. All of them pass the same validation, and then
// the same rewrite: a Human.approve step in front of every tool in APPROVAL_REQUIRED_TOOLS.
//
// A tenant's MCP tools are read (through the server store's per-isolate cache) only when they
// matter: an explicit plan that names an `mcp.` tool, or an LLM prompt, which offers them to the
// model. The rule planner never plans them, so its runs never ask.
import { log } from "../lib/log";
import { SpanKind, type SpanData } from "../lib/otel/span";
import { newSpanId } from "../lib/trace";
import { EMPTY_CATALOGUE, mcpCatalogue, type McpCatalogue } from "../tools/mcp/mcp-catalogue";
import { MCP_PREFIX } from "../tools/mcp/mcp-types";
import { approvalRequiredTools, withRequiredApprovals } from "./required-approvals";
import { cachePlan, cachedPlan } from "./plan-cache";
import { MAX_PROMPT_LENGTH, type Plan, type PlanInput, type PlanIssue } from "../execution/plan-schema";
import { llmConfig } from "./llm/llm-config";
import type { FallbackReason } from "./llm/llm-errors";
import { planWithLlm } from "./llm/llm-planner";
import { planFromPrompt, refusalMessage } from "./rule-planner";
import { validatePlan } from "./validate-plan";

export type PlanSource = { prompt: string } | { plan: PlanInput };

/** Where the model's call is recorded as a span, when spans are exported: a child of `span_id`. */
export interface PlanTrace {
  trace_id: string;
  span_id: string;
  tenant: string;
  spans: { record(span: SpanData): void };
}

export type PlanOutcome =
  | { ok: true; plan: Plan }
  | {
      ok: false;
      code: "empty_prompt" | "prompt_too_long" | "unplannable_prompt" | "invalid_plan";
      message: string;
      details?: PlanIssue[] | { unparsed: string[]; fallback_reason?: FallbackReason };
    };

const planId = () => `plan_${crypto.randomUUID().replaceAll("-", "")}`;

function finish(raw: unknown, planner: Plan["planner"], extra: Partial<Plan> = {}, mcp: McpCatalogue = EMPTY_CATALOGUE): PlanOutcome {
  const validation = validatePlan(raw, mcp);
  if (!validation.ok) return { ok: false, code: "invalid_plan", message: "The plan is invalid; see details for each problem.", details: validation.issues };
  return { ok: true, plan: { plan_id: planId(), planner, steps: validation.steps, ...extra } };
}

/** Does a plan as sent name an MCP tool? (It is not validated yet: look without trusting its shape.) */
function namesMcpTool(plan: unknown): boolean {
  const steps = (plan as { steps?: unknown } | null)?.steps;
  return (
    Array.isArray(steps) && steps.some((s) => typeof (s as { tool?: unknown } | null)?.tool === "string" && (s as { tool: string }).tool.startsWith(MCP_PREFIX))
  );
}

/**
 * The plan for `source`, for `tenant`: whose MCP tools the plan may use (without it, the built-in
 * tools only) and whose APPROVAL_REQUIRED_TOOLS entries apply to it.
 */
export async function makePlan(source: PlanSource, env: Env, tenant?: string, trace?: PlanTrace): Promise<PlanOutcome> {
  const { planned, mcp } = await planFor(source, env, tenant, trace);
  if (!planned.ok) return planned;
  const steps = withRequiredApprovals(planned.plan.steps, approvalRequiredTools(env.APPROVAL_REQUIRED_TOOLS, tenant ?? ""));
  if (!steps) return planned;
  const validation = validatePlan({ steps }, mcp);
  if (!validation.ok) {
    const message = "With the approvals APPROVAL_REQUIRED_TOOLS adds, the plan is invalid (too many steps?); see details.";
    return { ok: false, code: "invalid_plan", message, details: validation.issues };
  }
  return { ok: true, plan: { ...planned.plan, steps: validation.steps } };
}

/** The plan as planned, and the MCP catalogue it was validated against (for the rewrite's validation). */
async function planFor(source: PlanSource, env: Env, tenant?: string, trace?: PlanTrace): Promise<{ planned: PlanOutcome; mcp: McpCatalogue }> {
  if (!("prompt" in source)) {
    const mcp = tenant !== undefined && namesMcpTool(source.plan) ? await mcpCatalogue(env, tenant) : EMPTY_CATALOGUE;
    return { planned: finish(source.plan, "explicit", {}, mcp), mcp };
  }
  const prompt = source.prompt.trim();
  if (!prompt) return { planned: { ok: false, code: "empty_prompt", message: "The prompt is empty." }, mcp: EMPTY_CATALOGUE };
  if (source.prompt.length > MAX_PROMPT_LENGTH) {
    const message = `The prompt is ${source.prompt.length} characters; the limit is ${MAX_PROMPT_LENGTH}.`;
    return { planned: { ok: false, code: "prompt_too_long", message }, mcp: EMPTY_CATALOGUE };
  }

  let fallback_reason: FallbackReason = "not_configured";
  let fallback_detail: string | undefined;
  const config = llmConfig(env);
  if (config) {
    const mcp = tenant !== undefined ? await mcpCatalogue(env, tenant) : EMPTY_CATALOGUE;
    const cached = await cachedPlan(prompt, config.model, mcp);
    if (cached) return { planned: finish({ steps: cached }, "llm", { cached: true }, mcp), mcp };
    const started = Date.now();
    // Each call to the model is a client span under the start of the run (a repair is a second one).
    const onCall = trace
      ? (startMs: number, error?: string) =>
          trace.spans.record({
            trace_id: trace.trace_id,
            span_id: newSpanId(),
            parent_span_id: trace.span_id,
            name: `chat ${config.model}`,
            kind: SpanKind.client,
            start_ms: startMs,
            end_ms: Date.now(),
            tenant: trace.tenant,
            attributes: { "gen_ai.operation.name": "chat", "gen_ai.request.model": config.model },
            ...(error ? { error } : {}),
          })
      : undefined;
    const llm = await planWithLlm(config, env, prompt, mcp, onCall);
    log.info("planner.llm_finished", {
      model: config.model,
      ok: llm.ok,
      attempts: llm.attempts,
      duration_ms: Date.now() - started,
      ...(llm.ok ? {} : { reason: llm.reason }),
    });
    if (llm.ok) {
      // Validated once, by the LLM planner (it feeds the problems back to the model for its repair).
      await cachePlan(prompt, config.model, llm.steps, Number(env.PLAN_CACHE_TTL_S ?? 60), mcp);
      return { planned: { ok: true, plan: { plan_id: planId(), planner: "llm", steps: llm.steps, cached: false } }, mcp };
    }
    fallback_reason = llm.reason;
    fallback_detail = llm.detail;
  }

  const planned = planFromPrompt(prompt);
  if (!planned.ok) {
    const details = { unparsed: planned.unparsed, ...(config ? { fallback_reason } : {}) };
    return { planned: { ok: false, code: "unplannable_prompt", message: refusalMessage(planned.refusals), details }, mcp: EMPTY_CATALOGUE };
  }
  const extra = { fallback_reason, ...(fallback_detail ? { fallback_detail } : {}) };
  return { planned: finish({ steps: planned.steps }, "rules", extra), mcp: EMPTY_CATALOGUE };
}
