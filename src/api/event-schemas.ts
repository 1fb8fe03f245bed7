// A run's events as the API serves them (GET /runs/{id}/events, /ws, /stream): one schema per
// event type, discriminated by `type`, so a typed client can narrow on it. The data shapes are
// those of run-events.ts; the check at the bottom fails to compile when the two disagree.
import { z } from "@hono/zod-openapi";
import type { RunEvent, RunEventData, RunEventType } from "../durable/run/domain/events";
import { stepErrorSchema } from "../execution/step-error";
import { planResponseSchema } from "./response-schemas";
import { runOptionsRequestSchema } from "./schemas";

const stepError = stepErrorSchema.openapi("StepError");
const queueMs = z.number().optional().describe("A queued step: how long the attempt's message waited for a consumer (ms)");
const step = z.number().int().describe("The step's step_number");
const attempt = z.number().int();
const epochMs = z.number().describe("Epoch milliseconds");

const runError = z.object({ code: z.string(), message: z.string(), step_number: z.number().int().optional() });

const DATA = {
  "run.created": z.object({
    run_id: z.string(),
    tenant: z.string().optional(),
    prompt: z.string().nullable(),
    options: runOptionsRequestSchema,
    request_hash: z.string(),
    trace_id: z.string(),
    holds_slot: z.boolean().optional(),
    schedule: z
      .object({ schedule_id: z.string(), scheduled_for: z.string().openapi({ format: "date-time" }) })
      .optional()
      .describe("The schedule occurrence that started the run"),
    parent_span_id: z.string().optional().describe("The span of the request that started the run, when spans are exported over OTLP"),
    retention_days: z.number().int().optional().describe("Days the run is kept once it ended"),
    rerun_of: z.string().optional().describe("A rerun: the run it was forked from"),
    parent: z
      .object({ run_id: z.string(), step, depth: z.number().int().describe("1 for a child of a top-level run") })
      .optional()
      .describe("The run and Run.start step that started this run; absent for a top-level run"),
  }),
  "plan.accepted": z.object({ plan: planResponseSchema }),
  "run.started": z.object({}),
  "step.queued": z.object({ step, attempt, dispatch_deadline: epochMs }).describe("Written by the earlier claim-based protocol only"),
  "step.redispatched": z.object({ step, attempt, dispatch_deadline: epochMs, reason: z.string() }).describe("Written by the earlier claim-based protocol only"),
  "step.started": z.object({
    step,
    attempt,
    input: z.unknown().describe("The resolved input"),
    lease_until: epochMs.optional(),
    wake_at: epochMs.optional(),
    executor: z.enum(["queue", "inline", "timer", "await", "child"]).optional(),
    idempotency_key: z.string().optional().describe("A step run again after compensation undid it: the key its effects are recorded under"),
  }),
  "step.waiting": z
    .object({ step, attempt, input: z.unknown().describe("The resolved input"), kind: z.enum(["approval", "signal"]), until: epochMs })
    .describe("The step waits for a decision or a signal until `until`; it holds no consumer"),
  "step.decided": z
    .object({
      step,
      attempt,
      decision: z.enum(["approve", "reject"]),
      comment: z.string().nullable(),
      decided_by: z.string().describe('The deciding API key\'s id, or "timeout"'),
      timed_out: z.boolean().optional(),
    })
    .describe("A waiting approval was decided: approve succeeds the step, reject fails it"),
  "step.succeeded": z.object({
    step,
    attempt,
    output: z.unknown(),
    duration_ms: z.number(),
    signal: z.number().int().optional().describe("A Wait.signal step: the seq of the signal.received it took"),
    queue_ms: queueMs,
  }),
  "step.retry_scheduled": z.object({ step, attempt, error: stepError, delay_ms: z.number(), retry_at: epochMs, queue_ms: queueMs }),
  "step.failed": z.object({ step, attempt, error: stepError, queue_ms: queueMs }),
  "step.skipped": z.object({ step, reason: z.enum(["dependency_failed", "run_failed", "cancelled", "run_timeout"]) }),
  "run.completed": z.object({ result: z.unknown() }),
  "run.failed": z.object({ error: runError }),
  "run.cancelled": z.object({ reason: z.string() }),
  "run.cancelling": z
    .object({ reason: z.string() })
    .describe("A cancel that asked for compensation: nothing new starts, steps in flight finish, then the run compensates and ends cancelled"),
  "compensation.started": z
    .object({
      reason: z.enum(["run_failed", "cancelled"]),
      error: runError.optional().describe("What the run fails with once compensation has ended"),
      steps: z.array(z.object({ step, tool: z.string(), input: z.record(z.string(), z.unknown()) })).describe("In the order they are undone"),
    })
    .describe("The run undoes its succeeded steps that have a compensation, one at a time, in reverse order of completion"),
  "compensation.step_started": z
    .object({
      step,
      attempt,
      input: z.unknown().describe("The compensation's resolved input"),
      executor: z.enum(["inline", "queue"]),
      lease_until: epochMs.optional(),
      idempotency_key: z.string().optional().describe("A queued undo: the key its effects are recorded under"),
    })
    .describe("An attempt to undo a step begins"),
  "step.compensated": z.object({ step, attempt, output: z.unknown(), duration_ms: z.number() }).describe("A step's effect was undone"),
  "step.compensation_failed": z
    .object({ step, attempt, error: stepError, retry_at: epochMs.optional(), deferred: z.boolean().optional() })
    .describe("An attempt to undo a step failed: tried again at retry_at, or, without it, failed for good"),
  "compensation.completed": z.object({}),
  "compensation.failed": z.object({ steps: z.array(z.number().int()).describe("The steps that could not be undone") }),
  "run.resumed": z.object({ steps: z.array(z.number().int()) }),
  "run.paused": z.object({ reason: z.string() }).describe("Nothing new is dispatched until run.unpaused; steps in flight finish and are recorded"),
  "run.unpaused": z.object({}).describe("A paused run goes on"),
  "step.deferred": z
    .object({ step, attempt, error: stepError, retry_at: epochMs })
    .describe("An open breaker turned the dispatch away; the attempt is given back"),
  "signal.received": z
    .object({ name: z.string(), payload: z.unknown() })
    .describe("A signal sent to the run; a Wait.signal step for its name takes it, now or when it starts waiting"),
  "step.reused": z
    .object({ step, input: z.unknown(), output: z.unknown(), from_run_id: z.string() })
    .describe("A rerun took this step's input and output from the run it was forked from; it never runs here"),
  "breaker.opened": z.object({ tool: z.string(), cooldown_ms: z.number(), reason: z.string() }),
  "breaker.half_opened": z.object({ tool: z.string(), steps: z.array(z.number().int()).optional() }),
  "breaker.closed": z.object({ tool: z.string(), steps: z.array(z.number().int()).optional() }),
  "child.started": z
    .object({ step, run_id: z.string(), wait: z.boolean(), status: z.string().describe("The child's status when it was created") })
    .describe("A Run.start step's child run exists; with wait the step waits for the child's end"),
  "child.ended": z.object({ step, run_id: z.string(), status: z.string() }).describe("A child run ended and told this run"),
  "parent.notified": z.object({ status: z.string() }).describe("This run's parent acknowledged its end"),
} satisfies { [T in RunEventType]: z.ZodType };

/** `run.created` → component `RunCreatedEvent`. */
const componentName = (type: string) => `${type.replace(/(^|[._])(\w)/g, (_m, _s, c: string) => c.toUpperCase())}Event`;

function eventSchema<T extends RunEventType>(type: T) {
  return z
    .object({ seq: z.number().int().min(1), type: z.literal(type), at: z.string().openapi({ format: "date-time" }), data: DATA[type] })
    .openapi(componentName(type));
}

const [first, ...rest] = (Object.keys(DATA) as RunEventType[]).map(eventSchema);
export const eventSchemaUnion = z.discriminatedUnion("type", [first!, ...rest]).openapi("Event");

export const eventPageSchema = z
  .object({
    run_id: z.string(),
    events: z.array(eventSchemaUnion),
    next_after: z.number().int().describe("Pass it back as `after` for the next page"),
    has_more: z.boolean(),
  })
  .openapi("EventPage");

/** Each event type with its own data: what the log holds, as a union a client can narrow. */
export type ApiEvent = { [T in RunEventType]: RunEvent<T> }[RunEventType];

// The schemas and the log's types must agree both ways: every event the log holds is described,
// and nothing is described that the log cannot hold.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type DataOf = { [T in RunEventType]: z.output<(typeof DATA)[T]> };
const dataMatchesTheLog: Same<DataOf, RunEventData> = true;
void dataMatchesTheLog;
