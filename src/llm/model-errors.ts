// What a failed model call means for the step: the one table in src/execution/step-error.ts
// decides retries, so a model call's failures are named with its codes. A provider's 429 and 5xx,
// a timeout and a dropped connection may pass (another attempt, after Retry-After when the
// provider sent one); any other 4xx (bad key, unknown model, a request it refuses) will not.
import { APICallError } from "ai";
import { stepError, type StepError } from "../execution/step-error";
import { parseRetryAfter } from "../lib/retry-after";

function header(headers: Record<string, string> | undefined, name: string): string | null {
  if (!headers) return null;
  const key = Object.keys(headers).find((k) => k.toLowerCase() === name);
  return key ? (headers[key] ?? null) : null;
}

export function classifyModelError(err: unknown, opts: { timedOut: boolean; now?: number }): StepError {
  if (opts.timedOut) return stepError("upstream_timeout", "The model did not answer within the call's timeout.");
  if (APICallError.isInstance(err)) {
    const status = err.statusCode ?? 0;
    const retryAfter = parseRetryAfter(header(err.responseHeaders, "retry-after"), opts.now);
    const after = retryAfter !== undefined ? { retry_after_ms: retryAfter } : {};
    if (status === 429) return stepError("upstream_rate_limited", "The model provider is rate-limiting (429).", after);
    if (status === 408) return stepError("upstream_timeout", "The model provider timed out (408).", after);
    if (status >= 500) return stepError("upstream_error", `The model provider failed (${status}): ${err.message}`, after);
    if (status >= 400) return stepError("upstream_rejected", `The model provider refused the call (${status}): ${err.message}`);
    // No status: the request never got an answer (connection refused or dropped).
    return stepError("upstream_unreachable", `The model provider could not be reached: ${err.message}`);
  }
  const name = err instanceof Error ? err.name : "";
  if (name === "TimeoutError" || name === "AbortError") return stepError("upstream_timeout", "The model did not answer within the call's timeout.");
  // A stream cut off mid-answer, or a fetch that failed: another attempt may get through.
  return stepError("upstream_unreachable", `The model call broke off: ${err instanceof Error ? err.message : String(err)}`);
}
