// Request schemas of the HTTP API: bodies, queries, path parameters and headers. Unknown fields are rejected.
import { z } from "@hono/zod-openapi";
import { runOptionsSchema } from "../execution/run-options";
import { RUN_STATUSES } from "../execution/statuses";
import { MAX_PROMPT_LENGTH, planInputSchema } from "../execution/plan-schema";
import { webhookUrlSchema } from "../durable/webhooks/webhook-url";
import { agentInputSchema } from "../tools/agent-run/agent-input";

/**
 * A prompt. The planner refuses an empty or blank one (`empty_prompt`) and one over
 * MAX_PROMPT_LENGTH UTF-16 units (`prompt_too_long`), with those codes; the document states the
 * same limits, so the schema carries them as documentation rather than checks of its own.
 */
export const promptSchema = z.string().openapi({
  minLength: 1,
  maxLength: MAX_PROMPT_LENGTH,
  pattern: "\\S",
  description: `The task in plain words: not blank, at most ${MAX_PROMPT_LENGTH} characters (UTF-16 units)`,
  example: "calculate (41*7)+13 and add the result as a todo, then show me all my tasks",
});

export const runOptionsRequestSchema = runOptionsSchema.openapi("RunOptions");
export const planInputRequestSchema = planInputSchema.openapi("PlanInput");

/** A run's own webhook: called when the run ends, signed with the tenant's run-webhook secret (POST /webhooks/signing-secret). */
export const runWebhookSchema = z
  .strictObject({
    url: webhookUrlSchema.describe("Where to POST the run's end (run.completed, run.failed or run.cancelled): an absolute http(s) URL"),
  })
  .openapi("RunWebhook");

/**
 * POST /runs: a prompt or a plan, never both. Two strict objects, so the document says it too
 * (oneOf: `{}`, both, or unknown fields match neither branch).
 */
export const promptRunSchema = z.strictObject({ prompt: promptSchema, options: runOptionsRequestSchema.optional(), webhook: runWebhookSchema.optional() });
export const planRunSchema = z.strictObject({
  plan: planInputRequestSchema,
  options: runOptionsRequestSchema.optional(),
  webhook: runWebhookSchema.optional(),
});
/** POST /runs with `agent`: a one-step plan whose step is an Agent.run with this input. */
export const agentRunSchema = z.strictObject({
  agent: agentInputSchema.openapi("AgentInput").describe("An Agent.run step's input: the run is a plan of that one step"),
  options: runOptionsRequestSchema.optional(),
  webhook: runWebhookSchema.optional(),
});
export const createRunBodySchema = z
  .union([promptRunSchema.openapi("PromptRun"), planRunSchema.openapi("PlanRun"), agentRunSchema.openapi("AgentRun")], {
    error: 'Give exactly one of "prompt", "plan" or "agent".',
  })
  .openapi("CreateRun", {}, { unionPreferredType: "oneOf" });
export type CreateRunBody = z.infer<typeof createRunBodySchema>;

/**
 * A number in the query string, parsed as z.coerce.number() would ("" is 0, "x" is refused).
 * Written as a preprocess so the document says `integer`/`number` without allowing null, which
 * the generator infers from z.coerce (Number(null) is 0).
 */
const queryNumber = <S extends z.ZodNumber>(schema: S) => z.preprocess((v) => (typeof v === "string" ? Number(v) : v), schema);

/** POST /runs?wait=N: answer once the run has ended, waiting at most N seconds (0 < N <= 30). */
export const createRunQuerySchema = z.strictObject({
  wait: queryNumber(z.number().positive().max(30)).optional().describe("Seconds to wait for the run to end before answering (0 < wait ≤ 30)"),
});

export const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/** Header names are lower case: that is how the validator sees them (they are case-insensitive). */
export const createRunHeadersSchema = z.object({
  "idempotency-key": z
    .string()
    .regex(IDEMPOTENCY_KEY, "Idempotency-Key must be 1-255 visible ASCII characters.")
    .optional()
    .describe("Makes the request safe to retry: the same key with the same body answers the run it made (200); with another body, 409"),
  traceparent: z.string().optional().describe("W3C trace context; honoured when valid, otherwise a trace is started"),
});

export const planBodySchema = z.strictObject({ prompt: promptSchema }).openapi("PlanRequest");

export const RUN_ID = /^run_[0-9a-f]{32}$/;

/**
 * Path parameters carry no pattern: the server answers any id it does not know, malformed ones
 * included, with the same 404 as a missing one (so an id reveals nothing). A pattern here would
 * tell clients to expect a 400 for a malformed id, which the server never sends.
 */
/** POST /runs/{id}/cancel: optional. */
export const cancelRunBodySchema = z
  .strictObject({
    compensate: z
      .boolean()
      .optional()
      .describe("Undo what the run's succeeded steps did (steps in flight finish first), then end it cancelled. Default false: stop at once"),
    reason: z.string().min(1).max(500).optional().describe("Recorded in run.cancelled"),
  })
  .openapi("CancelRun");

export const runIdParamsSchema = z.object({
  run_id: z
    .string()
    .openapi({ description: "A run id (`run_` and 32 hex digits); any other value is not found", example: "run_4bf92f3577b34da6a3ce929d0e0e4736" }),
});
export const keyIdParamsSchema = z.object({
  key_id: z.string().openapi({ description: "An API key id (`key_` and 20 hex digits); any other value is not found", example: "key_0123456789abcdef0123" }),
});
export const toolParamsSchema = z.object({
  tool: z.string().openapi({ description: "A tool that runs on the queue (GET /breakers lists them)", example: "Http.get" }),
});

const isoDate = z
  .string()
  .refine((s) => !Number.isNaN(Date.parse(s)), { message: "Use an ISO 8601 date or time." })
  .transform((s) => new Date(s).toISOString())
  .openapi({ description: "An ISO 8601 date or time", example: "2026-01-01T00:00:00Z" });

export const listRunsQuerySchema = z.strictObject({
  status: z.enum(RUN_STATUSES).optional(),
  limit: queryNumber(z.number().int().min(1).max(100)).default(20),
  cursor: z.string().max(200).optional().describe("`next_cursor` of the previous page"),
  created_after: isoDate.optional(),
  created_before: isoDate.optional(),
});

export const listEventsQuerySchema = z.strictObject({
  after: queryNumber(z.number().int().min(0)).default(0).describe("Events after this seq"),
  limit: queryNumber(z.number().int().min(1).max(1000)).default(100),
});

/** `after` for the WebSocket and SSE subscriptions: events after this seq (default 0, all). */
export const subscriptionQuerySchema = z.strictObject({
  after: queryNumber(z.number().int().min(0)).optional().describe("Send the events after this seq (default 0: all), then live ones"),
  token: z.string().max(100).optional().describe("A watch token (POST /runs/{run_id}/watch-token) in place of the Authorization header, for browsers"),
});

export const subscriptionHeadersSchema = z.object({
  "last-event-id": z
    .string()
    .regex(/^\d+$/, "Last-Event-ID must be an event seq.")
    .optional()
    .describe("The last seq seen: resume after it (wins over `after`)"),
});

/** Tenant names: lower-case, URL- and log-safe. */
export const tenantSchema = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, "Use 1-63 characters: a-z, 0-9, '_' and '-', starting with a letter or digit.");

export const createKeyBodySchema = z
  .strictObject({
    name: z.string().trim().min(1).max(100).describe("What the key is for, shown in listings"),
    tenant: tenantSchema.describe("The tenant the key acts for"),
  })
  .openapi("CreateKey");

export const listKeysQuerySchema = z.strictObject({
  tenant: tenantSchema.optional(),
  include_revoked: z.enum(["true", "false"]).default("false"),
  limit: queryNumber(z.number().int().min(1).max(500)).default(100),
});

export const KEY_ID = /^key_[0-9a-f]{20}$/;
