// The one place that decides whether a failed attempt is tried again, and when.
// Backoff is exponential with full jitter (a uniformly random delay up to the cap), so a burst
// of failures does not come back as a synchronised burst; an upstream's Retry-After is a floor.
import { backoffDelay as curve } from "./backoff";
import type { StepError } from "./step-error";
import type { ResolvedOptions } from "./run-options";

export type Retriability = { retryable: true; retryAfterMs?: number } | { retryable: false };

export function retriability(error: StepError): Retriability {
  if (!error.retryable) return { retryable: false };
  return error.retry_after_ms !== undefined ? { retryable: true, retryAfterMs: error.retry_after_ms } : { retryable: true };
}

export function backoffDelay(attempt: number, options: ResolvedOptions, random: () => number = Math.random): number {
  return curve({ initialMs: options.initial_delay_ms, maxMs: options.max_delay_ms, jitter: true }, attempt, random);
}

export type RetryDecision = { retry: true; delay_ms: number } | { retry: false; reason: "not_retryable" | "attempts_exhausted" };

/** `attempt` is the attempt that just failed (1-based). */
export function decideRetry(error: StepError, attempt: number, options: ResolvedOptions, random: () => number = Math.random): RetryDecision {
  const r = retriability(error);
  if (!r.retryable) return { retry: false, reason: "not_retryable" };
  if (attempt >= options.max_attempts) return { retry: false, reason: "attempts_exhausted" };
  const jittered = backoffDelay(attempt, options, random);
  return { retry: true, delay_ms: Math.max(jittered, r.retryAfterMs ?? 0) };
}
