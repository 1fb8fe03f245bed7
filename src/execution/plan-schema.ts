import { z } from "zod";

export const MAX_PLAN_STEPS = 50;
export const MAX_PROMPT_LENGTH = 4000;

/**
 * What undoes a step once it succeeded, should the run fail (or be cancelled with compensation):
 * a tool call whose input may refer to the step's own output and to the outputs it depended on.
 */
export const compensationSchema = z.strictObject({
  tool: z.string().min(1).max(100),
  input: z.record(z.string(), z.unknown()),
});
export type Compensation = z.infer<typeof compensationSchema>;

/** A step as a client or a planner writes it; validated further by validatePlan. */
export const planStepInputSchema = z.strictObject({
  step_number: z.number().int().min(1).max(1000),
  tool: z.string().min(1).max(100),
  input: z.record(z.string(), z.unknown()),
  depends_on: z.array(z.number().int().min(1).max(1000)).max(MAX_PLAN_STEPS).default([]),
  reasoning: z.string().max(2000).optional(),
  /** Absent: the tool's default compensation, if it has one. null: none, even where the tool has a default. */
  compensate: compensationSchema.nullable().optional(),
});

export const planInputSchema = z.strictObject({
  steps: z.array(planStepInputSchema).min(1, "A plan needs at least one step.").max(MAX_PLAN_STEPS, `A plan has at most ${MAX_PLAN_STEPS} steps.`),
});
export type PlanInput = z.infer<typeof planInputSchema>;

export const planStepSchema = z.object({
  step_number: z.number().int(),
  tool: z.string(),
  input: z.record(z.string(), z.unknown()),
  depends_on: z.array(z.number().int()),
  reasoning: z.string(),
  /** As written: absent means the tool's default compensation; null means none. */
  compensate: z
    .object({ tool: z.string(), input: z.record(z.string(), z.unknown()) })
    .nullable()
    .optional(),
});
export type PlanStep = z.infer<typeof planStepSchema>;

export const plannerNameSchema = z.enum(["rules", "llm", "explicit"]);

export const planSchema = z.object({
  plan_id: z.string(),
  planner: plannerNameSchema,
  steps: z.array(planStepSchema),
  /** Why the rule planner planned a prompt: no model configured, or the model failed. */
  fallback_reason: z.enum(["timeout", "provider_error", "invalid_output", "not_configured"]).optional(),
  fallback_detail: z.string().optional(),
  /** An LLM plan reused for an identical prompt. */
  cached: z.boolean().optional(),
});
export type Plan = z.infer<typeof planSchema>;

/** One problem with a plan, pointing at the step (and field) it is about. */
export interface PlanIssue {
  step_number?: number;
  path: (string | number)[];
  code: string;
  message: string;
}
