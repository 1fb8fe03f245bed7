import { z } from "zod";

/**
 * The error a step carries: what went wrong, in a sentence a person can act on, and whether
 * trying again could help. `retry_after_ms` carries an upstream's Retry-After.
 */
export const stepErrorSchema = z.object({
  code: z.string(),
  message: z.string(),
  retryable: z.boolean(),
  retry_after_ms: z.number().int().nonnegative().optional(),
});
export type StepError = z.infer<typeof stepErrorSchema>;

export function stepError(
  code: string,
  message: string,
  opts: { retryable?: boolean; retry_after_ms?: number } = {},
): StepError {
  const err: StepError = { code, message, retryable: opts.retryable ?? false };
  if (opts.retry_after_ms !== undefined) err.retry_after_ms = opts.retry_after_ms;
  return err;
}
