import type { StepError } from "../lib/step-error";
import type { RunOptions } from "../execution/run-options";
import type { Plan } from "../planner/plan-schema";

/**
 * Every change of a run is one of these, appended to the run object's SQLite log with a gap-free
 * `seq`. The run resource is a fold of them (run-state.ts); nothing else holds run state.
 * Times that the watchdog compares (`*_deadline`, `*_at` in ms) are epoch milliseconds.
 */
export interface RunEventData {
  "run.created": { run_id: string; tenant?: string; prompt: string | null; options: RunOptions; request_hash: string; trace_id: string };
  "plan.accepted": { plan: Plan };
  "run.started": Record<string, never>;
  "step.queued": { step: number; attempt: number; dispatch_deadline: number };
  "step.redispatched": { step: number; attempt: number; dispatch_deadline: number; reason: string };
  "step.started": { step: number; attempt: number; input: unknown; lease_until?: number; wake_at?: number };
  "step.succeeded": { step: number; attempt: number; output: unknown; duration_ms: number };
  "step.retry_scheduled": { step: number; attempt: number; error: StepError; delay_ms: number; retry_at: number };
  "step.failed": { step: number; attempt: number; error: StepError };
  "step.skipped": { step: number; reason: "dependency_failed" | "run_failed" | "cancelled" };
  "run.completed": { result: unknown };
  "run.failed": { error: { code: string; message: string; step_number?: number } };
  "run.cancelled": { reason: string };
  "run.resumed": { steps: number[] };
  "step.deferred": { step: number; attempt: number; error: StepError; retry_at: number };
  "breaker.opened": { tool: string; cooldown_ms: number; reason: string };
  "breaker.half_opened": { tool: string };
  "breaker.closed": { tool: string };
}

export type RunEventType = keyof RunEventData;

export interface RunEvent<T extends RunEventType = RunEventType> {
  seq: number;
  type: T;
  at: string;
  data: RunEventData[T];
}

export const RUN_EVENT_TYPES = [
  "run.created",
  "plan.accepted",
  "run.started",
  "step.queued",
  "step.redispatched",
  "step.started",
  "step.succeeded",
  "step.retry_scheduled",
  "step.failed",
  "step.skipped",
  "run.completed",
  "run.failed",
  "run.cancelled",
  "run.resumed",
  "step.deferred",
  "breaker.opened",
  "breaker.half_opened",
  "breaker.closed",
] as const satisfies readonly RunEventType[];
