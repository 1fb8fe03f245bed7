import { z } from "zod";

/** POST /console/layout: the steps of a plan, as far as drawing them needs. */
export const layoutRequestSchema = z.strictObject({
  steps: z
    .array(z.object({ step_number: z.number().int().min(1), tool: z.string().max(100), depends_on: z.array(z.number().int()).max(50).default([]) }))
    .min(1)
    .max(50),
});
