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
export const parentLinkSchema = z.object({
  run_id: z.string(),
  step,
  call: z.number().int().positive().optional().describe("The parent's agent call that started this run (a nested agent)"),
  depth: z.number().int().describe("1 for a child of a top-level run"),
});
export type ParentLink = z.infer<typeof parentLinkSchema>;

/** The executors a step.started may name (absent in logs older than the field). */
export const EXECUTOR_KINDS = ["queue", "inline", "timer", "await", "child", "agent"] as const;

/** What a run's agent steps use: the default model and the prices in force when the run was created. */
export const runLlmSchema = z.object({
  model: z.string().describe("LLM_MODEL when the run was created: an Agent.run step's model unless it names one"),
  prices: z
    .record(z.string(), z.object({ input_per_million: z.number(), output_per_million: z.number() }))
    .describe("USD per million tokens of the models the run's agent steps use (LLM_PRICES), as they were at creation"),
});
export type RunLlm = z.infer<typeof runLlmSchema>;

const turn = z.number().int().positive().describe("An agent step's turn: one model call and the tool calls it asked for");
const call = z.number().int().positive().describe("An agent step's tool call, numbered 1, 2, … across its turns");
const usage = z.object({ input_tokens: z.number().int(), output_tokens: z.number().int() });

export const EVENT_DATA = {
  "run.created": z.object({
    run_id: z.string(),
    tenant: z.string().optional().describe("Absent in logs from before tenants"),
    prompt: z.string().nullable(),
    options: runOptionsSchema,
    request_hash: z.string(),
    trace_id: z.string(),
    holds_slot: z.boolean().optional().describe("The run took a slot under its tenant's cap (absent in older logs, where every run with a tenant did)"),
    slot_shard: z.number().int().optional().describe("Which of the tenant's limiter shards granted the slot (absent: shard 0)"),
    schedule: runScheduleSchema.optional().describe("The schedule occurrence that started the run"),
    webhook: z.object({ url: z.string() }).optional().describe("The run's own webhook, called when it ends"),
    webhook_events: z.array(z.string()).optional().describe("The event types its tenant had webhook subscriptions for when it was created"),
    parent_span_id: z.string().optional().describe("The span of the request that started the run, when spans are exported over OTLP"),
    retention_days: z.number().int().optional().describe("Days the run is kept once it ended"),
    rerun_of: z.string().optional().describe("A rerun: the run it was forked from"),
    parent: parentLinkSchema.optional().describe("The run and Run.start step that started this run; absent for a top-level run"),
    llm: runLlmSchema.optional().describe("A run with an Agent.run step: its model and prices"),
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
      steps: z
        .array(z.object({ step, call: call.optional().describe("An agent's call this undoes"), tool: z.string(), input: z.record(z.string(), z.unknown()) }))
        .describe("In the order they are undone"),
    })
    .describe("The run undoes its succeeded steps that have a compensation, one at a time, in reverse order of completion"),
  "compensation.step_started": z
    .object({
      step,
      call: call.optional(),
      attempt,
      input: z.unknown().describe("The compensation's resolved input"),
      executor: z.enum(["inline", "queue"]),
      lease_until: epochMs.optional(),
      resend_at: epochMs.optional().describe("A queued undo: when its message is sent again if no report has come by then"),
      idempotency_key: z.string().optional().describe("A queued undo: the key its effects are recorded under"),
    })
    .describe("An attempt to undo a step begins; its seq names the dispatch, as step.started's does"),
  "step.compensated": z.object({ step, call: call.optional(), attempt, output: z.unknown(), duration_ms: z.number() }).describe("A step's effect was undone"),
  "step.compensation_failed": z
    .object({ step, call: call.optional(), attempt, error: stepError, retry_at: epochMs.optional(), deferred: z.boolean().optional() })
    .describe("An attempt to undo a step failed: tried again at retry_at (deferred: an open breaker turned it away), or, without it, failed for good"),
  "compensation.completed": z.object({}),
  "compensation.failed": z.object({ steps: z.array(z.number().int()).describe("The steps that could not be undone") }),
  "run.resumed": z.object({
    steps: z.array(z.number().int()),
    slot_shard: z.number().int().optional().describe("Which of the tenant's limiter shards granted the resumed run's slot (absent: shard 0)"),
  }),
  "run.paused": z.object({ reason: z.string() }).describe("Nothing new is dispatched until run.unpaused; steps in flight finish and are recorded"),
  "run.unpaused": z.object({}).describe("A paused run goes on"),
  "step.resent": z
    .object({
      step,
      dispatch: z.number().int().describe("The attempt whose message was sent again: a step's, or an undo's"),
      next_resend_at: epochMs.optional().describe("When it is sent again if still no report has come; absent: not again (its lease decides)"),
    })
    .describe("A queued attempt had no report by its resend time (its message may have been lost): the same dispatch was sent again, under the same lease"),
  "step.lease_renewed": z
    .object({
      step,
      dispatch: z.number().int().describe("The attempt whose lease was renewed: a step's, an undo's, or an agent's call"),
      lease_until: epochMs.describe("Its new lease: the step's timeout and a margin from when its consumer asked"),
    })
    .describe(
      "A queued attempt's message reached its consumer with less than the step's timeout left of its lease (it waited behind a backlog): the lease was renewed from then, and the attempt runs rather than being retried",
    ),
  "step.resend_postponed": z
    .object({
      step,
      dispatch: z.number().int().describe("The attempt whose message was not sent again: a step's, or an undo's, or an agent's call"),
      resend_at: epochMs
        .nullable()
        .describe("When it is looked at again; null: not again, since a copy sent later could no longer start within the lease (the lease decides)"),
      queue_wait_ms: z
        .number()
        .int()
        .nonnegative()
        .describe("How long the oldest message still in the step queue had waited: it was sent before this attempt's"),
    })
    .describe(
      "A queued attempt had no report by its resend time, but the step queue still held a message sent before its own: its message is waiting its turn, not lost, so no copy was sent",
    ),
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
    .object({
      step,
      call: z.number().int().positive().optional().describe("The agent call that started it: a nested agent (Agent.run called by an agent)"),
      run_id: z.string(),
      wait: z.boolean(),
      status: z.string().describe("The child's status when it was created"),
    })
    .describe("A Run.start step's child run exists (or an agent's nested agent); with wait the step (or call) waits for the child's end"),
  "child.ended": z
    .object({ step, call: z.number().int().positive().optional(), run_id: z.string(), status: z.string() })
    .describe("A child run ended and told this run"),
  "parent.notified": z.object({ status: z.string() }).describe("This run's parent acknowledged its end"),
  "agent.turn_started": z.object({ step, turn }).describe("An Agent.run step begins a turn: a model call, then the tool calls it asks for"),
  "llm.call_started": z
    .object({
      step,
      turn,
      attempt,
      model: z.string(),
      max_tokens: z.number().int().describe("The call's output cap: what the step's budget has left, at most"),
      prompt_bytes: z.number().int().describe("The prompt's size, to calibrate the next call's token estimate"),
      reservation_usd: z.number().optional().describe("Held back against the tenant's daily cap"),
      lease_until: epochMs,
      resend_at: epochMs.optional().describe("When its message is sent again if no report has come (a message lost in a crash)"),
    })
    .describe("A model call's attempt begins (run by a queue consumer; its seq names the dispatch). The messages are rebuilt from the log, not stored"),
  "llm.call_began": z
    .object({ step, turn, attempt })
    .describe("A consumer took the model call's attempt and is making the call: another delivery of it is turned away, even after a restart"),
  "llm.delta": z.object({ step, turn, attempt, text: z.string() }).describe("Text the model wrote, streamed: at most one event per call every 100 ms or 2 KiB"),
  "llm.call_succeeded": z
    .object({
      step,
      turn,
      attempt,
      text: z.string(),
      tool_calls: z.array(z.object({ tool: z.string(), input: z.unknown() })),
      usage,
      cost_usd: z.number().describe("From the run's price table; 0 for a model with no price"),
      usage_estimated: z.boolean().optional(),
      finish_reason: z.string(),
      duration_ms: z.number(),
      queue_ms: queueMs,
    })
    .describe("A model call's answer, recorded: it is never made again"),
  "llm.call_failed": z
    .object({ step, turn, attempt, error: stepError, retry_at: epochMs.optional(), deferred: z.boolean().optional(), queue_ms: queueMs })
    .describe("A model call's attempt failed: tried again at retry_at (deferred: the tenant's daily cap turned it away), or, without it, the step fails"),
  "agent.call_started": z
    .object({
      step,
      turn,
      call,
      attempt,
      tool: z.string(),
      input,
      executor: z.enum(EXECUTOR_KINDS),
      lease_until: epochMs.optional(),
      resend_at: epochMs.optional(),
      wake_at: epochMs.optional(),
      idempotency_key: z.string().optional(),
    })
    .describe("An attempt of a tool call the model asked for begins; its seq names the dispatch, as step.started's does"),
  "agent.call_waiting": z
    .object({ step, turn, call, tool: z.string(), input })
    .describe("A tool call waits for a person's decision (POST …/steps/{step}/decision with its call number)"),
  "agent.call_decided": z
    .object({ step, call, decision: z.enum(["approve", "reject"]), comment: z.string().nullable(), decided_by: z.string() })
    .describe("A waiting call was decided: approve runs it; reject gives the model the person's comment as its result"),
  "agent.call_forbidden": z
    .object({ step, turn, call, tool: z.string(), input, reason: z.string() })
    .describe("The model asked for a tool this agent may not call: it is not run, and the model is told so"),
  "agent.call_succeeded": z.object({ step, call, attempt, output: z.unknown(), duration_ms: z.number(), queue_ms: queueMs }),
  "agent.call_failed": z
    .object({ step, call, attempt, error: stepError, retry_at: epochMs.optional(), deferred: z.boolean().optional(), queue_ms: queueMs })
    .describe("A tool call's attempt failed: tried again at retry_at, or, without it, the error is given to the model as the call's result"),
  "agent.repair_requested": z
    .object({ step, turn, repair: z.string() })
    .describe("The answer did not validate against output_schema: the next turn asks the model to repair it (once)"),
  "agent.nested_usage": z
    .object({
      step,
      call: z.number().int().positive(),
      run_id: z.string(),
      input_tokens: z.number().int().nonnegative(),
      output_tokens: z.number().int().nonnegative(),
      cost_usd: z.number().nonnegative(),
    })
    .describe("A nested agent (the child run of an Agent.run call) ended: what its model calls used counts against this step's budget"),
  "agent.finished": z
    .object({ step, turns: z.number().int(), tool_calls: z.number().int() })
    .describe("The model answered without tool calls: the step succeeds with the answer"),
  "agent.budget_exceeded": z
    .object({ step, reason: z.enum(["tokens", "cost"]), detail: z.string() })
    .describe("The step's budget cannot afford its next model call: no call is made, and the step fails"),
  "agent.max_turns_exceeded": z.object({ step, turns: z.number().int() }).describe("The step used its max_turns without an answer, and fails"),
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
