// The step protocol: what the run object sends to a queue consumer and what the consumer reports
// back. Both sides import this module, and neither imports the other.
//
// The message is the lease. When the run object dispatches a queued step it resolves the input,
// records `step.started` with a lease, and sends everything the consumer needs; the consumer runs
// the tool and reports once. A step is identified by its `dispatch` (the seq of the event that
// started it), so a duplicate or late message can never be mistaken for the current attempt: the
// first report for the current dispatch wins and every other one is acknowledged and ignored.
import { z } from "zod";
import { stepErrorSchema, type StepError } from "./step-error";
import { jsonBytes } from "../lib/bytes";
import type { Json } from "../lib/json";
import type { SpanData } from "../lib/otel/span";

/**
 * Inputs at most this large travel in the message; a larger one is fetched by the consumer
 * (`stepInput`), so a message stays under the queue's 128 KB limit with room for the envelope.
 */
export const MAX_MESSAGE_INPUT_BYTES = 96 * 1024;

export const stepMessageSchema = z.object({
  /** Protocol version: messages of the earlier claim-based protocol have none and are dropped. */
  v: z.literal(2),
  run_id: z.string().min(1),
  /** The run's tenant: each tenant has its own breaker per tool. */
  tenant: z.string(),
  step: z.number().int().positive(),
  /** The attempt's number as the run's execution log counts it (deferrals do not use one). */
  attempt: z.number().int().positive(),
  /** The seq of the step.started event of this dispatch: what a report must name to count. */
  dispatch: z.number().int().positive(),
  tool: z.string().min(1),
  /** The resolved input; absent when it was too large for a message (fetch it with stepInput). */
  input: z.unknown().optional(),
  timeout_ms: z.number().int().positive(),
  /** Epoch ms after which the run object takes the step back; a message that arrives too late to run is dropped. */
  lease_until: z.number().int().positive(),
  trace_id: z.string(),
  /**
   * The key the tool's side effects are recorded under. Absent: `run_id:step`. A step run again
   * after compensation undid it, and each undo, act under keys of their own.
   */
  idempotency_key: z.string().min(1).optional(),
  /**
   * A copy the run object sent again (1, 2, …) because no report had come by the attempt's resend
   * time: the original may have been lost. The consumer asks the pre-flight check before running
   * a copy, whatever the tool, so a copy whose original already ran (or is running a tool with side
   * effects) does nothing.
   */
  copy: z.number().int().positive().optional(),
  /** The span of the run object command that dispatched it, when spans are exported: the parent of the attempt's span. */
  parent_span_id: z.string().optional(),
  /**
   * Handed to the consumer in the reply to its report (a continuation), not sent through the queue.
   * The run object let it through its pre-flight as it handed it over (a model call is recorded as
   * begun then), so the consumer asks none. Only one consumer ever holds it: a copy sent again
   * later travels by queue, without this flag, and is turned away by the pre-flight.
   */
  granted: z.literal(true).optional(),
  /**
   * No client was watching the run when this was sent: a model call need not stream its text into
   * the run's log (streaming costs the call time, and nobody would see it). Absent: stream.
   */
  unwatched: z.literal(true).optional(),
});
export type StepMessage = z.infer<typeof stepMessageSchema>;

export type Outcome = { success: true; output: Json } | { success: false; error: StepError };

export const outcomeSchema = z.union([
  z.object({ success: z.literal(true), output: z.custom<Json>(() => true) }),
  z.object({ success: z.literal(false), error: stepErrorSchema }),
]);

/** The tool's breaker opened on this outcome: the run records it beside the failed attempt. */
export interface BreakerOpened {
  tool: string;
  cooldown_ms: number;
  reason: string;
}

/** One consumer's report on one dispatch. */
export interface StepReport {
  step: number;
  dispatch: number;
  outcome: Outcome;
  opened?: BreakerOpened;
  /** How long the message waited in the queue before a consumer took it (ms), for GET /metrics. */
  queue_ms?: number;
  /** The attempt's spans (and its tool's), when spans are exported: the run object exports them with its own. */
  spans?: SpanData[];
}

export type ReportResult = { accepted: true } | { accepted: false; reason: "not_running" | "stale_dispatch" | "unknown_step" | "run_not_found" };

/**
 * The answer to a batch of reports: one result per report, and the run's next work that the
 * reports called for, up to the number the consumer offered to take (`next`, each `granted`).
 * What the consumer does not take goes by queue as usual.
 */
export interface ReportAnswer {
  results: ReportResult[];
  next: StepMessage[];
}

/**
 * Asked before a tool with side effects runs, so a cancelled or already-taken dispatch does nothing;
 * and by a message that arrived late, which gets its lease renewed (`lease_until`, the new one).
 */
export type PreflightResult =
  | { go: true; lease_until?: number }
  | { go: false; reason: "run_finished" | "stale_dispatch" | "already_started" | "unknown_step" | "run_not_found" | "cancelling" };

/** How the run object sends a step to the queue: the message, without the envelope's JSON size. */
export function stepMessage(fields: Omit<StepMessage, "v" | "input">, input: Json): StepMessage {
  const fits = jsonBytes(input) <= MAX_MESSAGE_INPUT_BYTES;
  return { v: 2, ...fields, ...(fits ? { input } : {}) };
}
