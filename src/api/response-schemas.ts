import { z } from "zod";
import { planSchema } from "../planner/plan-schema";

/** What the API answers, as zod schemas: they describe responses in the OpenAPI document. */
const iso = z.string().describe("ISO 8601 time");
const stepStatus = z.enum(["pending", "queued", "running", "succeeded", "failed", "skipped"]);
const runStatus = z.enum(["pending", "running", "completed", "failed", "cancelled"]);
const errorInfo = z.object({ code: z.string(), message: z.string() });

export const runResourceSchema = z.object({
  run_id: z.string(),
  tenant: z.string(),
  prompt: z.string().nullable(),
  status: runStatus,
  plan: planSchema.nullable(),
  options: z.object({
    max_attempts: z.number(),
    initial_delay_ms: z.number(),
    max_delay_ms: z.number(),
    step_timeout_ms: z.number(),
    max_parallelism: z.number(),
    run_timeout_ms: z.number(),
    max_deferral_ms: z.number().nullable(),
  }),
  execution_log: z.array(
    z.object({
      step_number: z.number(),
      tool: z.string(),
      input: z.unknown().describe("Resolved once the step starts; before that, as planned"),
      status: stepStatus,
      output: z.unknown(),
      error: errorInfo.nullable(),
      attempts: z.number(),
      deferrals: z.number().describe("Dispatches an open circuit breaker turned away before the tool ran; they use no attempt"),
      started_at: iso.nullable(),
      completed_at: iso.nullable(),
      duration_ms: z.number().nullable(),
      next_attempt_at: iso.nullable(),
      skip_reason: z.string().nullable(),
    }),
  ),
  result: z.unknown().describe("Output of the highest-numbered step, once the run completed"),
  error: errorInfo.extend({ step_number: z.number().optional() }).nullable(),
  trace_id: z.string(),
  created_at: iso,
  started_at: iso.nullable(),
  completed_at: iso.nullable(),
  last_event_seq: z.number(),
});

export const runListSchema = z.object({
  runs: z.array(
    z.object({
      run_id: z.string(),
      prompt: z.string().nullable(),
      status: runStatus,
      planner: z.string(),
      step_count: z.number(),
      result: z.unknown(),
      error: errorInfo.nullable(),
      created_at: iso,
      started_at: iso.nullable(),
      completed_at: iso.nullable(),
    }),
  ),
  next_cursor: z.string().nullable(),
});

export const eventPageSchema = z.object({
  run_id: z.string(),
  events: z.array(z.object({ seq: z.number(), type: z.string(), at: iso, data: z.unknown() })),
  next_after: z.number(),
  has_more: z.boolean(),
});

export const usageSchema = z.object({
  run_id: z.string(),
  do_requests: z.number(),
  storage_rows_written: z.number(),
  queue_messages: z.number(),
  queued_attempts: z.number(),
  d1_statements: z.number(),
  d1_rows_written: z.number(),
});

export const toolListSchema = z.object({ tools: z.array(z.object({ name: z.string(), description: z.string(), input_schema: z.record(z.string(), z.unknown()) })) });

export const healthSchema = z.object({ status: z.enum(["ok", "degraded"]), version: z.string(), checks: z.record(z.string(), z.string()) });

export const breakerStatusSchema = z.object({
  tool: z.string(),
  state: z.enum(["closed", "open", "half_open"]),
  consecutive_failures: z.number(),
  window_calls: z.number(),
  window_failures: z.number(),
  cooldown_ms: z.number(),
  opened_at: iso.nullable(),
  next_transition_at: iso.nullable(),
  trips: z.number(),
  requests: z.number(),
  rows_written: z.number(),
  waiting_runs: z.number(),
  settings: z.record(z.string(), z.number()),
});

export const breakerListSchema = z.object({ enabled: z.boolean(), breakers: z.array(breakerStatusSchema) });

export const apiKeySchema = z.object({
  id: z.string(),
  name: z.string(),
  tenant: z.string(),
  prefix: z.string().describe("The secret's first characters, to tell keys apart"),
  created_at: z.string(),
  revoked_at: z.string().nullable(),
});
export const createdKeySchema = z.object({ key: apiKeySchema, secret: z.string().describe("The API key itself; shown only here") });
export const apiKeyListSchema = z.object({ keys: z.array(apiKeySchema) });

export const watchTokenSchema = z.object({ token: z.string(), expires_at: z.string(), websocket: z.string(), stream: z.string() });
