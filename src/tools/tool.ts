import type { z } from "zod";
import type { StepError } from "../lib/step-error";

/** What a tool learns about the step it runs for. */
export interface ToolContext {
  env: Env;
  run_id: string;
  /** The run's tenant: tools with stored state (TodoStore) keep each tenant's apart. */
  tenant: string;
  step_number: number;
  attempt: number;
  /** Aborted when the step's timeout passes; tools pass it on to their I/O. */
  signal: AbortSignal;
  /** Stable per (run, step) across attempts: side effects keyed by it happen once. */
  idempotency_key: string;
  /** The run's trace and this attempt's span, for outbound `traceparent` headers. */
  trace_id: string;
  span_id: string;
}

export type ToolResult =
  | { success: true; output: unknown; error?: undefined }
  | { success: false; output?: undefined; error: StepError };

/**
 * `executor: "queue"` tools run in a queue consumer; `"timer"` tools are durable timers the
 * run object keeps itself (its alarm), so waiting holds no consumer.
 */
export interface Tool<S extends z.ZodType = z.ZodType> {
  name: string;
  description: string;
  input_schema: S;
  executor: "queue" | "timer";
  execute(input: z.output<S>, ctx: ToolContext): Promise<ToolResult>;
}

export function defineTool<S extends z.ZodType>(tool: Tool<S>): Tool<S> {
  return tool;
}

export const ok = (output: unknown): ToolResult => ({ success: true, output });
export const fail = (error: StepError): ToolResult => ({ success: false, error });
