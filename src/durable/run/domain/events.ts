// Every change of a run is one of these events, appended to the run object's SQLite log with a
// gap-free `seq`. This file is the one definition of each event: the zod schema below is the
// source of the TypeScript types (inferred), of the documented `Event` in the OpenAPI (the API
// wraps these schemas), and of the parsing applied when a log is read back (`parseEvent`), where an
// upcast hook first brings an older shape up to date. Times the watchdog compares (`*_until`,
// `*_at` in ms) are epoch milliseconds.
import { z } from "zod";
import { runOptionsSchema } from "../../../execution/run-options";
import { stepErrorSchema } from "../../../execution/step-error";
import { planResourceSchema } from "./run-resource";

const stepError = stepErrorSchema.meta({ id: "StepError" });
const queueMs = z.number().optional().describe("A queued step: how long the attempt's message waited for a consumer (ms)");
const step = z.number().int().describe("The step's step_number");
const attempt = z.number().int();
const epochMs = z.number().describe("Epoch milliseconds");
const input = z.unknown().describe("The resolved input");

/** The error a run ends failed with. */
export const runErrorSchema = z.object({ code: z.string(), message: z.string(), step_number: z.number().int().optional() });
export type RunError = z.infer<typeof runErrorSchema>;

/** The schedule occurrence that started a run. */
export const runScheduleSchema = z.object({
  schedule_id: z.string(),
  /** The occurrence's time (ISO 8601), or the moment of a manual trigger. */
  scheduled_for: z.string().meta({ format: "date-time" }),
});
export type RunSchedule = z.infer<typeof runScheduleSchema>;

/** Where a child run comes from. Depth 1 is a child of a top-level run. */
export const parentLinkSchema = z.object({ run_id: z.string(), step, depth: z.number().int().describe("1 for a child of a top-level run") });
export type ParentLink = z.infer<typeof parentLinkSchema>;

/** The executors a step.started may name (absent in logs older than the field). */
export const EXECUTOR_KINDS = ["queue", "inline", "timer", "await", "child"] as const;

export const EVENT_DATA = {
  "run.created": z.object({
    run_id: z.string(),
    tenant: z.string().optional().describe("Absent in logs from before tenants"),
    prompt: z.string().nullable(),
    options: runOptionsSchema,
    request_hash: z.string(),
    trace_id: z.string(),
    holds_slot: z.boolean().optional().describe("The run took a slot under its tenant's cap (absent in older logs, where every run with a tenant did)"),
    schedule: runScheduleSchema.optional().describe("The schedule occurrence that started the run"),
    webhook: z.object({ url: z.string() }).optional().describe("The run's own webhook, called when it ends"),
    webhook_events: z.array(z.string()).optional().describe("The event types its tenant had webhook subscriptions for when it was created"),
    parent_span_id: z.string().optional().describe("The span of the request that started the run, when spans are exported over OTLP"),
    retention_days: z.number().int().optional().describe("Days the run is kept once it ended"),
    rerun_of: z.string().optional().describe("A rerun: the run it was forked from"),
    parent: parentLinkSchema.optional().describe("The run and Run.start step that started this run; absent for a top-level run"),
  }),
  "plan.accepted": z.object({ plan: planResourceSchema }),
  "run.started": z.object({}),
  "step.queued": z.object({ step, attempt, dispatch_deadline: epochMs }).describe("Written by the earlier claim-based protocol only"),
  "step.redispatched": z.object({ step, attempt, dispatch_deadline: epochMs, reason: z.string() }).describe("Written by the earlier claim-based protocol only"),
  "step.started": z
    .object({
      step,
      attempt,
      input,
      lease_until: epochMs.optional(),
      resend_at: epochMs.optional().describe("A queued step: when its message is sent again if no report has come by then"),
      wake_at: epochMs.optional(),
      executor: z.enum(EXECUTOR_KINDS).optional(),
      idempotency_key: z.string().optional().describe("A step run again after compensation undid it: the key its effects are recorded under"),
    })
    .describe("A dispatch: the attempt begins. A queued step holds a lease (its message is the lease; the seq names the dispatch); a timer wakes at wake_at"),
  "step.waiting": z
    .object({ step, attempt, input, kind: z.enum(["approval", "signal"]), until: epochMs })
    .describe("The step waits for a decision or a signal until `until`; it holds no consumer"),
  "step.decided": z
    .object({
      step,
      attempt,
      decision: z.enum(["approve", "reject"]),
      comment: z.string().nullable(),
      decided_by: z.string().describe('The deciding API key\'s id, "link", or "timeout"'),
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
  "step.reused": z
    .object({ step, input: z.unknown(), output: z.unknown(), from_run_id: z.string() })
    .describe("A rerun took this step's input and output from the run it was forked from; it never runs here"),
  "run.completed": z.object({ result: z.unknown() }),
  "run.failed": z.object({ error: runErrorSchema }),
  "run.cancelled": z.object({ reason: z.string() }),
  "run.cancelling": z
    .object({ reason: z.string() })
    .describe("A cancel that asked for compensation: nothing new starts, steps in flight finish, then the run compensates and ends cancelled"),
  "compensation.started": z
    .object({
      reason: z.enum(["run_failed", "cancelled"]),
      error: runErrorSchema.optional().describe("What the run fails with once compensation has ended"),
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
      resend_at: epochMs.optional().describe("A queued undo: when its message is sent again if no report has come by then"),
      idempotency_key: z.string().optional().describe("A queued undo: the key its effects are recorded under"),
    })
    .describe("An attempt to undo a step begins; its seq names the dispatch, as step.started's does"),
  "step.compensated": z.object({ step, attempt, output: z.unknown(), duration_ms: z.number() }).describe("A step's effect was undone"),
  "step.compensation_failed": z
    .object({ step, attempt, error: stepError, retry_at: epochMs.optional(), deferred: z.boolean().optional() })
    .describe("An attempt to undo a step failed: tried again at retry_at (deferred: an open breaker turned it away), or, without it, failed for good"),
  "compensation.completed": z.object({}),
  "compensation.failed": z.object({ steps: z.array(z.number().int()).describe("The steps that could not be undone") }),
  "run.resumed": z.object({ steps: z.array(z.number().int()) }),
  "run.paused": z.object({ reason: z.string() }).describe("Nothing new is dispatched until run.unpaused; steps in flight finish and are recorded"),
  "run.unpaused": z.object({}).describe("A paused run goes on"),
  "step.resent": z
    .object({
      step,
      dispatch: z.number().int().describe("The attempt whose message was sent again: a step's, or an undo's"),
      next_resend_at: epochMs.optional().describe("When it is sent again if still no report has come; absent: not again (its lease decides)"),
    })
    .describe("A queued attempt had no report by its resend time (its message may have been lost): the same dispatch was sent again, under the same lease"),
  "step.deferred": z
    .object({ step, attempt, error: stepError, retry_at: epochMs })
    .describe("An open breaker turned the dispatch away; the attempt is given back"),
  "signal.received": z
    .object({ name: z.string(), payload: z.unknown() })
    .describe("A signal sent to the run; a Wait.signal step for its name takes it, now or when it starts waiting"),
  "breaker.opened": z.object({ tool: z.string(), cooldown_ms: z.number(), reason: z.string() }),
  "breaker.half_opened": z.object({ tool: z.string(), steps: z.array(z.number().int()).optional() }),
  "breaker.closed": z.object({ tool: z.string(), steps: z.array(z.number().int()).optional() }),
  "child.started": z
    .object({ step, run_id: z.string(), wait: z.boolean(), status: z.string().describe("The child's status when it was created") })
    .describe("A Run.start step's child run exists; with wait the step waits for the child's end"),
  "child.ended": z.object({ step, run_id: z.string(), status: z.string() }).describe("A child run ended and told this run"),
  "parent.notified": z.object({ status: z.string() }).describe("This run's parent acknowledged its end"),
};

export type RunEventType = keyof typeof EVENT_DATA;
export const RUN_EVENT_TYPES = Object.keys(EVENT_DATA) as RunEventType[];
export type RunEventData = { [T in RunEventType]: z.output<(typeof EVENT_DATA)[T]> };

export interface RunEvent<T extends RunEventType = RunEventType> {
  seq: number;
  type: T;
  at: string;
  data: RunEventData[T];
}

/**
 * Old shapes brought up to date before an event is parsed: keyed by type, each takes the stored
 * data and answers it in today's shape. Add one here, never change what a stored event means.
 */
const UPCASTS: Partial<Record<RunEventType, (data: Record<string, unknown>) => Record<string, unknown>>> = {
  // Logs from before per-tenant runs wrote `tenant: null` on a few test builds; today it is absent.
  "run.created": (d) => (d.tenant === null ? { ...d, tenant: undefined } : d),
};

export class UnknownEventError extends Error {
  override readonly name = "UnknownEventError";
}

/** An event as stored (seq, type, time, data as JSON values), upcast and checked against its schema. */
export function parseEvent(raw: { seq: number; type: string; at: string; data: unknown }): RunEvent {
  if (!(raw.type in EVENT_DATA)) throw new UnknownEventError(`event ${raw.seq} has an unknown type "${raw.type}"`);
  const type = raw.type as RunEventType;
  const upcast = UPCASTS[type];
  const data = upcast && raw.data && typeof raw.data === "object" ? upcast(raw.data as Record<string, unknown>) : raw.data;
  return { seq: raw.seq, type, at: raw.at, data: EVENT_DATA[type].parse(data) } as RunEvent;
}
