// Asks the configured model for a plan. Its output is validated exactly like every other plan;
// a first answer that fails gets one repair attempt with the specific problems fed back. The
// whole exchange is bounded by the planning budget. Any failure returns a fallback reason.
import { NoObjectGeneratedError, Output, generateText, type ModelMessage } from "ai";
import { log } from "../../lib/log";
import { EMPTY_CATALOGUE, type McpCatalogue } from "../../tools/mcp/mcp-catalogue";
import { planInputSchema, type PlanStep } from "../../execution/plan-schema";
import { validatePlan } from "../validate-plan";
import { languageModel, type LlmConfig } from "./llm-config";
import { classify, noteHealthy, noteMisconfiguration, type FallbackReason } from "./llm-errors";
import { repairPrompt, systemPrompt } from "./llm-prompt";

/** `steps` are validated already: the caller takes them as they are. */
export type LlmPlanResult = { ok: true; steps: PlanStep[]; attempts: number } | { ok: false; reason: FallbackReason; detail: string; attempts: number };

/** Told of each call to the model as it ends (for its span): when it began, and its error if it failed. */
export type OnModelCall = (startMs: number, error?: string) => void;

/** `mcp` is the tenant's MCP tools: they are offered to the model beside the built-in ones. */
export async function planWithLlm(
  config: LlmConfig,
  env: Env,
  prompt: string,
  mcp: McpCatalogue = EMPTY_CATALOGUE,
  onCall?: OnModelCall,
): Promise<LlmPlanResult> {
  const signal = AbortSignal.timeout(config.budgetMs);
  const messages: ModelMessage[] = [{ role: "user", content: `Task: ${prompt}` }];
  let attempts = 0;
  let lastProblem = "";
  try {
    for (; attempts < 2;) {
      attempts++;
      let candidate: unknown;
      let raw = "";
      const called = Date.now();
      try {
        const result = await generateText({
          model: languageModel(config, env),
          system: systemPrompt(mcp),
          messages,
          output: Output.object({ schema: planInputSchema }),
          abortSignal: signal,
          maxRetries: 0, // retrying is this function's job, within the budget
          temperature: 0,
        });
        candidate = result.output;
        raw = result.text;
        onCall?.(called);
      } catch (err) {
        onCall?.(called, err instanceof Error ? err.name : "error");
        // Unparseable JSON or a schema violation is worth one repair; anything else is not.
        if (!NoObjectGeneratedError.isInstance(err) || signal.aborted) throw err;
        raw = err.text ?? "";
        lastProblem = `the answer is not a valid plan: ${err.cause instanceof Error ? err.cause.message : err.message}`;
        messages.push({ role: "assistant", content: raw || "(empty)" }, { role: "user", content: repairPrompt([lastProblem]) });
        continue;
      }
      const validation = validatePlan(candidate, mcp);
      if (validation.ok) {
        noteHealthy();
        return { ok: true, steps: validation.steps, attempts };
      }
      const problems = validation.issues.map((i) => (i.step_number ? `step ${i.step_number}: ${i.message}` : i.message));
      lastProblem = problems.join("; ");
      messages.push({ role: "assistant", content: raw || JSON.stringify(candidate) }, { role: "user", content: repairPrompt(problems) });
    }
    return { ok: false, reason: "invalid_output", detail: lastProblem, attempts };
  } catch (err) {
    const c = classify(err, signal);
    if (c.misconfigured) noteMisconfiguration(c.detail, config.model);
    else log.warn("planner.llm_failed", { model: config.model, reason: c.reason, detail: c.detail, attempts });
    return { ok: false, reason: c.reason, detail: c.detail, attempts };
  }
}
