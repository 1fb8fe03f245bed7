import { z } from "zod";

export const DEFAULT_RUN_TIMEOUT_MS = 24 * 3600_000;
export const MAX_RUN_TIMEOUT_MS = 30 * 24 * 3600_000;

/** Per-run knobs a client may set on POST /runs; everything has a default. */
export const runOptionsSchema = z.strictObject({
  retry: z
    .strictObject({
      max_attempts: z.number().int().min(1).max(10).optional(),
      initial_delay_ms: z.number().int().min(0).max(60_000).optional(),
      max_delay_ms: z.number().int().min(0).max(3_600_000).optional(),
    })
    .optional(),
  step_timeout_ms: z.number().int().min(50).max(600_000).optional(),
  max_parallelism: z.number().int().min(1).max(50).optional(),
  /** The whole run's deadline: past it the run fails with run_timeout, whatever it waits on. */
  run_timeout_ms: z.number().int().min(1000).max(MAX_RUN_TIMEOUT_MS).optional(),
  /** How long a step may wait on an open breaker before it fails with tool_unavailable (default: until the run's deadline). */
  max_deferral_ms: z.number().int().min(0).max(MAX_RUN_TIMEOUT_MS).optional(),
  /**
   * When a step fails for good: "compensate" (the default) undoes the succeeded steps that have a
   * compensation, in reverse order of completion, before the run ends failed; "stop" ends it as is.
   */
  on_failure: z.enum(["compensate", "stop"]).optional(),
  /**
   * The largest output (as JSON, in UTF-8 bytes) a step may record. A larger one fails the step
   * with output_too_large: it would outgrow the event row, the RPC answers that carry the run, and D1.
   */
  max_output_bytes: z.number().int().min(1024).max(1_048_576).optional(),
});
export type RunOptions = z.infer<typeof runOptionsSchema>;

export interface ResolvedOptions {
  max_attempts: number;
  initial_delay_ms: number;
  max_delay_ms: number;
  step_timeout_ms: number;
  max_parallelism: number;
  run_timeout_ms: number;
  max_deferral_ms: number | null;
  on_failure: "compensate" | "stop";
  max_output_bytes: number;
}

export const DEFAULT_OPTIONS: ResolvedOptions = {
  max_attempts: 3,
  initial_delay_ms: 500,
  max_delay_ms: 30_000,
  step_timeout_ms: 30_000,
  max_parallelism: 50,
  run_timeout_ms: DEFAULT_RUN_TIMEOUT_MS,
  max_deferral_ms: null,
  on_failure: "compensate",
  max_output_bytes: 256 * 1024,
};

export function resolveOptions(options: RunOptions | undefined): ResolvedOptions {
  return {
    max_attempts: options?.retry?.max_attempts ?? DEFAULT_OPTIONS.max_attempts,
    initial_delay_ms: options?.retry?.initial_delay_ms ?? DEFAULT_OPTIONS.initial_delay_ms,
    max_delay_ms: options?.retry?.max_delay_ms ?? DEFAULT_OPTIONS.max_delay_ms,
    step_timeout_ms: options?.step_timeout_ms ?? DEFAULT_OPTIONS.step_timeout_ms,
    max_parallelism: options?.max_parallelism ?? DEFAULT_OPTIONS.max_parallelism,
    run_timeout_ms: options?.run_timeout_ms ?? DEFAULT_OPTIONS.run_timeout_ms,
    max_deferral_ms: options?.max_deferral_ms ?? DEFAULT_OPTIONS.max_deferral_ms,
    on_failure: options?.on_failure ?? DEFAULT_OPTIONS.on_failure,
    max_output_bytes: options?.max_output_bytes ?? DEFAULT_OPTIONS.max_output_bytes,
  };
}

/**
 * How long a queued attempt's message is valid: the consumer never starts it later than this
 * minus the step's timeout, and the run object fails the attempt (lease_expired) when it passes
 * with no report. Long on purpose, so that a backlogged queue does not fail steps; a message lost
 * outright is caught much sooner, by its resend deadline (resendAfter).
 */
export function leaseFor(timeoutMs: number): number {
  return dispatchTimeout(timeoutMs) + timeoutMs + leaseMargin(timeoutMs);
}

export function leaseMargin(timeoutMs: number): number {
  return Math.min(5_000, Math.max(200, Math.round(timeoutMs / 4)));
}

/**
 * How long a dispatched step's message may wait for a consumer. The lease a dispatch starts is
 * this plus the step's timeout plus the margin: long enough for a queue backlog (a thousand
 * runs fanned out at once), short enough that a lost message is noticed within a minute or so.
 */
export function dispatchTimeout(timeoutMs: number): number {
  return Math.min(300_000, Math.max(30_000, 2 * timeoutMs));
}

/** The queue's dispatch lag assumed before a run has heard any report (its first steps). */
export const DEFAULT_QUEUE_LAG_MS = 1_000;
/** What a queued attempt may take from dispatch to report before its message is suspected lost, on top of the lag. */
export const RESEND_FLOOR_MS = 8_000;
/** How many times one attempt's message is sent again (at resendAfter, then twice as long after that). */
export const MAX_RESENDS = 2;

/**
 * How long after dispatch a queued attempt with no report has its message sent again, the same
 * dispatch under the same lease (docs/architecture.md, "A message lost in a crash"): a floor that
 * most steps finish within, plus four times the queue's dispatch lag as the run has seen it
 * (`lagMs`, the largest `queue_ms` its reports carried; null: none yet). Never later than the
 * dispatch allowance, so that a copy can still start within the lease.
 */
export function resendAfter(lagMs: number | null, timeoutMs: number): number {
  return Math.min(dispatchTimeout(timeoutMs), RESEND_FLOOR_MS + 4 * (lagMs ?? DEFAULT_QUEUE_LAG_MS));
}

/**
 * How long a resend is put off when the step queue still holds a message sent before the
 * attempt's own (`oldestSentAt`): as long again as that message has waited, since the queue's
 * messages wait about that long now. At least the resend floor's 8 s, as that message was sent no
 * later than the attempt began.
 */
export function resendRecheckAfter(now: number, oldestSentAt: number): number {
  return Math.max(0, now - oldestSentAt);
}
