import { z } from "zod";

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
});
export type RunOptions = z.infer<typeof runOptionsSchema>;

export interface ResolvedOptions {
  max_attempts: number;
  initial_delay_ms: number;
  max_delay_ms: number;
  step_timeout_ms: number;
  max_parallelism: number;
}

export const DEFAULT_OPTIONS: ResolvedOptions = {
  max_attempts: 3,
  initial_delay_ms: 500,
  max_delay_ms: 30_000,
  step_timeout_ms: 30_000,
  max_parallelism: 50,
};

export function resolveOptions(options: RunOptions | undefined): ResolvedOptions {
  return {
    max_attempts: options?.retry?.max_attempts ?? DEFAULT_OPTIONS.max_attempts,
    initial_delay_ms: options?.retry?.initial_delay_ms ?? DEFAULT_OPTIONS.initial_delay_ms,
    max_delay_ms: options?.retry?.max_delay_ms ?? DEFAULT_OPTIONS.max_delay_ms,
    step_timeout_ms: options?.step_timeout_ms ?? DEFAULT_OPTIONS.step_timeout_ms,
    max_parallelism: options?.max_parallelism ?? DEFAULT_OPTIONS.max_parallelism,
  };
}

/** How long past its timeout a started step's lease lasts before the watchdog takes it back. */
export function leaseMargin(timeoutMs: number): number {
  return Math.min(5_000, Math.max(200, Math.round(timeoutMs / 4)));
}

/** How long a queued step may wait for a consumer before the watchdog sends it again. */
export function dispatchTimeout(timeoutMs: number): number {
  return Math.min(60_000, Math.max(1_000, timeoutMs));
}
