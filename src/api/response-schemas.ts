// What the API answers, as zod schemas: the OpenAPI document's response schemas, and the types
// the handlers must answer with (a handler that returns another shape does not compile). The
// named ones are components, referenced by `$ref`. Responses are open objects (new fields may
// appear); requests are strict.
import { z } from "@hono/zod-openapi";
import { breakerSettingsSchema } from "../durable/breaker/breaker-config";
import { RUN_STATUSES } from "../execution/statuses";

export const isoTime = z.string().openapi({ format: "date-time", description: "ISO 8601 time" });
const errorInfo = z.object({ code: z.string(), message: z.string() });

// The run resource is defined once, beside the run object that serves it.
export { planResourceSchema as planResponseSchema, planStepResourceSchema as planStepResponseSchema } from "../durable/run/domain/run-resource";
export { executionLogEntrySchema as stepSchema, runResourceSchema as runSchema } from "../durable/run/domain/run-resource";

export const runListSchema = z
  .object({
    runs: z.array(
      z
        .object({
          run_id: z.string(),
          prompt: z.string().nullable(),
          status: z.enum(RUN_STATUSES),
          planner: z.string(),
          step_count: z.number().int(),
          result: z.unknown(),
          error: errorInfo.nullable(),
          created_at: isoTime,
          started_at: isoTime.nullable(),
          completed_at: isoTime.nullable(),
        })
        .openapi("RunSummary"),
    ),
    next_cursor: z.string().nullable().describe("Pass it back as `cursor` for the next page; null on the last"),
  })
  .openapi("RunList");

export const usageSchema = z
  .object({
    run_id: z.string(),
    do_requests: z.number().int(),
    storage_rows_written: z.number().int(),
    queue_messages: z.number().int(),
    queued_attempts: z.number().int(),
    read_model_rows: z
      .number()
      .int()
      .describe("Of queue_messages, rows of the run in flight sent to the read-model queue, whose consumer writes up to 100 runs' rows per D1 statement"),
    d1_statements: z.number().int().describe("Statements the run wrote to D1 itself: its end row (rows sent to the read-model queue are not among them)"),
    d1_rows_written: z.number().int(),
    shared_requests: z
      .record(z.string(), z.number().int())
      .describe(
        "Of do_requests, those made to objects many runs share (tenant_limiter; webhook_outbox in usage saved before webhooks went through a queue), by class; the rest went to the run's own object",
      ),
    llm: z
      .object({ calls: z.number().int(), input_tokens: z.number().int(), output_tokens: z.number().int(), cost_usd: z.number() })
      .describe("What the run's Agent.run steps' model calls used (attempts made, tokens reported, cost by the run's prices)"),
  })
  .openapi("Usage");

export const toolListSchema = z.object({
  tools: z.array(
    z
      .object({ name: z.string(), description: z.string(), input_schema: z.record(z.string(), z.unknown()).describe("JSON Schema of the tool's input") })
      .openapi("Tool"),
  ),
});

export const healthSchema = z
  .object({
    status: z.enum(["ok", "degraded"]),
    version: z.string(),
    checks: z
      .record(z.string(), z.string())
      .describe("d1, durable_objects, queue: ok or failing; llm (ok, not_configured or misconfigured: …) is reported and never fails health"),
    queue: z
      .object({ backlog_count: z.number(), backlog_bytes: z.number(), oldest_message_age_ms: z.number().nullable() })
      .optional()
      .describe("The step queue's backlog, as its metrics said (absent when the queue check failed)"),
    not_checked: z.record(z.string(), z.string()).describe("What this check cannot see, and why"),
    checked_at: z.string().describe("When the checks ran: answers are cached for a few seconds per isolate"),
  })
  .openapi("Health");
export type Health = z.infer<typeof healthSchema>;

export const breakerSchema = z
  .object({
    tool: z.string(),
    state: z.enum(["closed", "open", "half_open"]),
    consecutive_failures: z.number().int(),
    window_calls: z.number().int(),
    window_failures: z.number().int(),
    cooldown_ms: z.number(),
    opened_at: isoTime.nullable(),
    next_transition_at: isoTime.nullable(),
    trips: z.number().int(),
    requests: z.number().int(),
    rows_written: z.number().int(),
    waiting_runs: z.number().int(),
    settings: breakerSettingsSchema,
  })
  .openapi("Breaker");

export const breakerListSchema = z.object({ enabled: z.boolean(), breakers: z.array(breakerSchema) });

export const apiKeySchema = z
  .object({
    id: z.string(),
    name: z.string(),
    tenant: z.string(),
    prefix: z.string().describe("The secret's first characters, to tell keys apart"),
    created_at: isoTime,
    revoked_at: isoTime.nullable(),
  })
  .openapi("ApiKey");
export const createdKeySchema = z.object({ key: apiKeySchema, secret: z.string().describe("The API key itself; shown only here") });
export const apiKeyListSchema = z.object({ keys: z.array(apiKeySchema) });
export const revokedKeySchema = z.object({ key: apiKeySchema });

export const watchTokenSchema = z
  .object({
    token: z.string(),
    expires_at: isoTime,
    websocket: z.string().describe("The run's WebSocket URL, with the token"),
    stream: z.string().describe("The run's event stream URL, with the token"),
  })
  .openapi("WatchToken");
