// Run.start: a step that starts another run (a child) for the same tenant, planned the way POST
// /runs plans one. The run object creates the child itself (src/durable/run/domain/children.ts); this file
// owns only the input a plan may give it. Run.collect gathers the children's results into one
// output, so a parent that fans out ends with all of them.
import { z } from "zod";
import { runOptionsSchema } from "../execution/run-options";
import { MAX_PLAN_STEPS, MAX_PROMPT_LENGTH, planInputSchema } from "../execution/plan-schema";
import { childTool, inlineTool, ok } from "./tool";

export const runStartInputSchema = z
  .strictObject({
    prompt: z.string().min(1).max(MAX_PROMPT_LENGTH).optional().describe("The child's task in plain words, planned as POST /runs plans one"),
    plan: planInputSchema.optional().describe("The child's plan as written (references inside it are the parent's, resolved when the step starts)"),
    options: runOptionsSchema.optional().describe("The child's run options, as on POST /runs"),
    wait: z.boolean().default(true).describe("Wait for the child to end and output its result (default), or output its run_id at once"),
  })
  .refine((i) => (i.prompt === undefined) !== (i.plan === undefined), { message: "Give exactly one of prompt and plan." });
export type RunStartInput = z.output<typeof runStartInputSchema>;

export const runStart = childTool({
  name: "Run.start",
  description:
    "Starts a child run for the same tenant from a prompt or a plan. With wait (the default) it succeeds with { run_id, status, result } when the child completes and fails when the child fails; without, it outputs { run_id } at once.",
  input_schema: runStartInputSchema,
});

export const runCollect = inlineTool({
  name: "Run.collect",
  description: "Outputs its values as one array: gathers the results of steps that ran side by side (e.g. child runs) into the run's result.",
  input_schema: z.strictObject({ values: z.array(z.unknown()).min(1).max(MAX_PLAN_STEPS).describe("Usually references to earlier steps' outputs") }),
  run: ({ values }) => ok(values),
});
