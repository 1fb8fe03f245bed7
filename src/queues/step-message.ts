import { z } from "zod";

/** One step attempt to execute. The run object owns the step; the message only says "try this now". */
export const stepMessageSchema = z.object({
  run_id: z.string().min(1),
  /** The run's tenant: each tenant has its own breaker per tool. */
  tenant: z.string().default(""),
  step: z.number().int().positive(),
  attempt: z.number().int().positive(),
  /** Lets the consumer ask the tool's breaker before claiming the step. */
  tool: z.string().optional(),
  trace_id: z.string().optional(),
});
export type StepMessage = z.infer<typeof stepMessageSchema>;
