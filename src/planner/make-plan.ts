import { MAX_PROMPT_LENGTH, type Plan, type PlanInput, type PlanIssue } from "./plan-schema";
import { planFromPrompt } from "./rule-planner";
import { validatePlan } from "./validate-plan";

/**
 * Turns a request into a validated plan: a prompt goes through the planner, an explicit plan is
 * taken as written; both pass the same validation.
 */
export type PlanSource = { prompt: string } | { plan: PlanInput };

export type PlanOutcome =
  | { ok: true; plan: Plan }
  | { ok: false; code: "empty_prompt" | "prompt_too_long" | "unplannable_prompt" | "invalid_plan"; message: string; details?: PlanIssue[] | { unparsed: string[] } };

export function makePlan(source: PlanSource): PlanOutcome {
  let raw: unknown;
  let planner: Plan["planner"];
  if ("prompt" in source) {
    const prompt = source.prompt.trim();
    if (!prompt) return { ok: false, code: "empty_prompt", message: "The prompt is empty." };
    if (source.prompt.length > MAX_PROMPT_LENGTH) {
      return { ok: false, code: "prompt_too_long", message: `The prompt is ${source.prompt.length} characters; the limit is ${MAX_PROMPT_LENGTH}.` };
    }
    const planned = planFromPrompt(prompt);
    if (!planned.ok) {
      return {
        ok: false,
        code: "unplannable_prompt",
        message: `The planner did not understand: ${planned.unparsed.map((u) => `"${u}"`).join(", ")}. Try phrasings like "calculate 2 + 3", "add a todo to buy milk", "list my todos" or "fetch <url>", joined by "and" or "then".`,
        details: { unparsed: planned.unparsed },
      };
    }
    raw = { steps: planned.steps };
    planner = "rules";
  } else {
    raw = source.plan;
    planner = "explicit";
  }
  const validation = validatePlan(raw);
  if (!validation.ok) return { ok: false, code: "invalid_plan", message: "The plan is invalid; see details for each problem.", details: validation.issues };
  return { ok: true, plan: { plan_id: `plan_${crypto.randomUUID().replaceAll("-", "")}`, planner, steps: validation.steps } };
}
