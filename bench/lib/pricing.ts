/**
 * Cloudflare's published list prices (Workers Paid plan, beyond the included amounts), in USD per
 * million operations, as read from developers.cloudflare.com pricing pages in November 2026.
 */
export const PRICES_PER_MILLION = {
  worker_requests: 0.3,
  do_requests: 0.15, // RPC calls, alarms and HTTP requests to Durable Objects
  do_rows_written: 1.0, // SQLite-backed Durable Object storage
  queue_operations: 0.4, // each message is written, read and deleted: 3 operations
  d1_rows_written: 1.0,
} as const;

export interface Usage {
  worker_requests: number;
  do_requests: number;
  do_rows_written: number;
  queue_operations: number;
  d1_rows_written: number;
}

/** USD per million runs. */
export function costPerMillionRuns(u: Usage): number {
  return (Object.keys(PRICES_PER_MILLION) as (keyof Usage)[]).reduce((sum, k) => sum + u[k] * PRICES_PER_MILLION[k], 0);
}

/**
 * Prices of what the operation counts above leave out, in USD per million units (same pages,
 * November 2026): Workers Logs events beyond the 20 million a month Workers Paid includes (each
 * log line a Worker writes is one event), CPU milliseconds on Workers Standard, and Workflows
 * steps ($0.80 per 100,000 since August 2026; sleeps and waits count as steps).
 */
export const EXTRA_PRICES_PER_MILLION = {
  log_events: 0.6,
  cpu_ms: 0.02,
  workflow_steps: 8.0,
} as const;
