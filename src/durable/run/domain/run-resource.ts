// The run resource that GET /runs/{id} serves, as one zod schema: the run object's view is typed
// by it (z.infer) and the API documents it (it is the OpenAPI document's `Run`), so the two cannot
// drift. `meta({ id })` names a component in the document without this layer knowing about it.
import { z } from "zod";
import { COMPENSATION_STATUSES, RUN_STATUSES, STEP_STATUSES, UNDO_STATUSES } from "../../../execution/statuses";
import { planSchema, planStepSchema } from "../../../execution/plan-schema";

const isoTime = z.string().meta({ format: "date-time", description: "ISO 8601 time" });
const errorInfo = z.object({ code: z.string(), message: z.string() });

export const planStepResourceSchema = planStepSchema.meta({ id: "PlanStep" });
export const planResourceSchema = planSchema.extend({ steps: z.array(planStepResourceSchema) }).meta({ id: "Plan" });

const llmUsageSchema = z.object({ input_tokens: z.number().int(), output_tokens: z.number().int(), cost_usd: z.number() });

/** One turn of an Agent.run step: its model call's text and usage, and the tool calls it asked for. */
export const agentTurnSchema = z
  .object({
    turn: z.number().int(),
    status: z.enum(["pending", "running", "succeeded", "failed"]).describe("Its model call's"),
    text: z.string().describe("What the model wrote: as streamed while the call runs, then as answered"),
    usage: llmUsageSchema.nullable(),
    attempts: z.number().int().describe("Attempts of its model call"),
    calls: z.array(
      z.object({
        call: z.number().int().describe("Numbered across the step's turns: a decision on a waiting call names it"),
        tool: z.string(),
        input: z.unknown(),
        status: z.enum(["pending", "running", "waiting", "succeeded", "failed", "rejected", "forbidden"]),
        output: z.unknown(),
        error: errorInfo.nullable(),
        comment: z.string().nullable().describe("A person's comment on the decision, or why the call may not run"),
        attempts: z.number().int(),
      }),
    ),
  })
  .meta({ id: "AgentTurn" });

export const executionLogEntrySchema = z
  .object({
    step_number: z.number().int(),
    tool: z.string(),
    input: z.unknown().describe("Resolved once the step starts; before that, as planned"),
    status: z.enum(STEP_STATUSES),
    output: z
      .unknown()
      .describe(
        "The tool's output once the step succeeded; null before. An Agent.run step that failed (budget, max_turns, invalid answer) has `{ answer: null, turns, tool_calls, usage, transcript }`: what it did so far",
      ),
    error: errorInfo.nullable(),
    attempts: z.number().int().describe("Attempts that ran"),
    deferrals: z.number().int().describe("Dispatches an open circuit breaker turned away before the tool ran; they use no attempt"),
    started_at: isoTime.nullable(),
    completed_at: isoTime.nullable(),
    duration_ms: z.number().nullable(),
    next_attempt_at: isoTime.nullable(),
    waiting_until: isoTime
      .nullable()
      .describe("While the step waits for a decision: when its on_timeout decides instead; while it sleeps (Wait.sleep): when it wakes"),
    skip_reason: z.string().nullable(),
    compensate: z
      .object({ tool: z.string(), input: z.record(z.string(), z.unknown()) })
      .nullable()
      .describe("What undoes this step if the run fails after it succeeded: the plan's compensation, else its tool's default; null: nothing"),
    turns: z.array(agentTurnSchema).optional().describe("An Agent.run step: its turns so far"),
    usage: llmUsageSchema.optional().describe("An Agent.run step: what its model calls used"),
  })
  .meta({ id: "Step" });
export type ExecutionLogEntry = z.infer<typeof executionLogEntrySchema>;

export const undoEntrySchema = z
  .object({
    step_number: z.number().int().describe("The step this undoes"),
    call: z.number().int().optional().describe("An agent step's call this undoes"),
    tool: z.string(),
    input: z.unknown().describe("Resolved once the undo starts; before that, as written"),
    status: z.enum(UNDO_STATUSES),
    attempts: z.number().int(),
    output: z.unknown(),
    error: errorInfo.nullable(),
    started_at: isoTime.nullable(),
    completed_at: isoTime.nullable(),
    next_attempt_at: isoTime.nullable(),
  })
  .meta({ id: "Undo" });

export const compensationResourceSchema = z
  .object({
    status: z.enum(COMPENSATION_STATUSES),
    reason: z.enum(["run_failed", "cancelled"]),
    error: errorInfo.nullable().describe("Why compensation failed: the undos that failed for good"),
    steps: z.array(undoEntrySchema).describe("In the order they run: reverse order of completion"),
  })
  .meta({ id: "Compensation" });

export const runResourceSchema = z
  .object({
    run_id: z.string(),
    tenant: z.string(),
    prompt: z.string().nullable(),
    status: z
      .enum(RUN_STATUSES)
      .describe(
        "waiting: a step waits for a decision or a signal; paused: nothing new starts until it is resumed; cancelling: a cancel with compensate waits for the steps in flight that may have an effect, then compensating (undoing what succeeded) and cancelled",
      ),
    // A union with null, not .nullable(): the document generator makes a named schema's
    // component itself nullable when its first use is .nullable().
    plan: z.union([planResourceSchema, z.null()]),
    options: z
      .object({
        max_attempts: z.number().int(),
        initial_delay_ms: z.number().int(),
        max_delay_ms: z.number().int(),
        step_timeout_ms: z.number().int(),
        max_parallelism: z.number().int(),
        run_timeout_ms: z.number().int(),
        max_deferral_ms: z.number().int().nullable(),
        on_failure: z.enum(["compensate", "stop"]),
        max_output_bytes: z.number().int(),
      })
      .describe("The options in force, defaults filled in"),
    execution_log: z.array(executionLogEntrySchema).describe("One entry per step of the plan"),
    compensation: z
      .union([compensationResourceSchema, z.null()])
      .describe("Undoing the succeeded steps after a failure (or a cancel with compensate); null until it starts"),
    result: z.unknown().describe("Output of the highest-numbered step, once the run completed; null before"),
    error: errorInfo.extend({ step_number: z.number().int().optional() }).nullable(),
    trace_id: z.string(),
    schedule_id: z.string().nullable().describe("The schedule that started the run; null for runs started otherwise"),
    scheduled_for: isoTime.nullable().describe("The schedule's occurrence (or manual trigger) that started the run"),
    rerun_of: z.string().nullable().describe("The run this one was forked from (POST /runs/{run_id}/rerun); null: none"),
    created_at: isoTime,
    started_at: isoTime.nullable(),
    completed_at: isoTime.nullable(),
    last_event_seq: z.number().int(),
    parent_run_id: z.string().nullable().describe("The run whose Run.start step started this one; null for a top-level run"),
    children: z
      .array(
        z.object({
          run_id: z.string(),
          step: z.number().int().describe("The Run.start step that started it, or the Agent.run step whose call did"),
          call: z.number().int().optional().describe("The agent's call to Agent.run that started it (a nested agent)"),
          status: z.string(),
        }),
      )
      .describe("Runs this run's Run.start steps (and its agents' nested agents) started, with their status as this run last heard it"),
  })
  .meta({ id: "Run" });
export type RunResource = z.infer<typeof runResourceSchema>;
