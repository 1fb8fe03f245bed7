// Turns a request into a validated plan. A prompt goes to the LLM planner when a model is
// configured, and to the rule planner when it is not or when the LLM fails (the plan records
// why); an explicit plan is taken as written. All of them pass the same validation.
import { log } from "../lib/log";
import { SpanKind, type SpanData } from "../lib/otel/span";
import { newSpanId } from "../lib/trace";
import { cachePlan, cachedPlan } from "./plan-cache";
import { MAX_PROMPT_LENGTH, type Plan, type PlanInput, type PlanIssue } from "./plan-schema";
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

function finish(raw: unknown, planner: Plan["planner"], extra: Partial<Plan> = {}): PlanOutcome {
  const validation = validatePlan(raw);
  if (!validation.ok) return { ok: false, code: "invalid_plan", message: "The plan is invalid; see details for each problem.", details: validation.issues };
  return { ok: true, plan: { plan_id: planId(), planner, steps: validation.steps, ...extra } };
}

export async function makePlan(source: PlanSource, env: Env, trace?: PlanTrace): Promise<PlanOutcome> {
  if (!("prompt" in source)) return finish(source.plan, "explicit");
  const prompt = source.prompt.trim();
  if (!prompt) return { ok: false, code: "empty_prompt", message: "The prompt is empty." };
  if (source.prompt.length > MAX_PROMPT_LENGTH) {
    return { ok: false, code: "prompt_too_long", message: `The prompt is ${source.prompt.length} characters; the limit is ${MAX_PROMPT_LENGTH}.` };
  }

  let fallback_reason: FallbackReason = "not_configured";
  let fallback_detail: string | undefined;
  const config = llmConfig(env);
  if (config) {
    const cached = await cachedPlan(prompt, config.model);
    if (cached) return finish({ steps: cached }, "llm", { cached: true });
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
    const llm = await planWithLlm(config, env, prompt, onCall);
    log.info("planner.llm_finished", {
      model: config.model,
      ok: llm.ok,
      attempts: llm.attempts,
      duration_ms: Date.now() - started,
      ...(llm.ok ? {} : { reason: llm.reason }),
    });
    if (llm.ok) {
      // Validated once, by the LLM planner (it feeds the problems back to the model for its repair).
      await cachePlan(prompt, config.model, llm.steps, Number(env.PLAN_CACHE_TTL_S ?? 60));
      return { ok: true, plan: { plan_id: planId(), planner: "llm", steps: llm.steps, cached: false } };
    }
    fallback_reason = llm.reason;
    fallback_detail = llm.detail;
  }

  const planned = planFromPrompt(prompt);
  if (!planned.ok) {
    return {
      ok: false,
      code: "unplannable_prompt",
      message: refusalMessage(planned.refusals),
      details: { unparsed: planned.unparsed, ...(config ? { fallback_reason } : {}) },
    };
  }
  return finish({ steps: planned.steps }, "rules", { fallback_reason, ...(fallback_detail ? { fallback_detail } : {}) });
}
