// The running totals behind GET /metrics. D1 keeps them up to date with SQLite triggers on `runs`
// (migrations/*_metric_rollups.sql, written by scripts/metric-rollups-sql.ts from this file), so
// they change in the same statement as the run's own row and cost the run no extra statement.
// A scrape reads these tables, whose size depends on how many tenants, tools and error codes
// there are, never on how many runs there have been; deleting old runs leaves them as they are.

/**
 * Histogram bucket bounds in seconds, per family. Steps last from a millisecond (Calculator) to
 * days (Wait.sleep, approvals); runs to weeks (a run that waits on approvals); the queue and the
 * projection are expected to take milliseconds, and an hour or a day when something is wrong.
 * Each observation lands in one stored bucket, the smallest bound at or above it ("+Inf" above
 * all), so a scrape sums them into Prometheus' cumulative buckets.
 */
export const METRIC_BOUNDS = {
  step_duration: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 86400, 3 * 86400, 7 * 86400],
  run_duration: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 86400, 3 * 86400, 7 * 86400, 14 * 86400, 28 * 86400],
  queue_lag: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600],
  projection_lag: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 86400],
} as const satisfies Record<string, readonly number[]>;

export type HistogramFamily = keyof typeof METRIC_BOUNDS;

/** The ways a step of an ended run can have ended, as the rollups count them. */
export const STEP_OUTCOMES = ["succeeded", "failed", "skipped", "cancelled"] as const;
export type StepOutcome = (typeof STEP_OUTCOMES)[number];

/** Why a request was answered 429, as the rate-limited counter labels it. */
export const RATE_LIMIT_REASONS = ["api_key", "failed_auth", "runs_in_flight"] as const;
export type RateLimitReason = (typeof RATE_LIMIT_REASONS)[number];
