// What happens after an attempt, decided in one place: delivered, try again (when), give up, or
// unsubscribe. Retries back off exponentially from 5 s to an hour over 8 attempts (5 s, 15 s,
// 45 s, 2¼ min, 6¾ min, 20¼ min, 1 h: about an hour and a half in all), with no jitter: one
// outbox per tenant paces its own deliveries, so there is no herd to spread.

export const MAX_ATTEMPTS = 8;
const FIRST_DELAY_MS = 5_000;
const FACTOR = 3;
const MAX_DELAY_MS = 3_600_000;

/** The wait before attempt `attempt + 1`, after attempt `attempt` (1-based) failed. */
export function backoffMs(attempt: number): number {
  return Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * FACTOR ** (attempt - 1));
}

/** One attempt as seen on the wire: a status, or no answer at all. */
export interface AttemptResult {
  status_code: number | null;
  /** Why there was no usable answer: a timeout, a refused connection, an address no longer allowed. */
  error: string | null;
  /** Retry-After on a 429, in ms. */
  retry_after_ms?: number;
  /** The address rules refused the URL before anything was sent: retrying cannot help. */
  refused?: boolean;
}

export type Verdict =
  | { kind: "delivered" }
  /** Try again at `at` (epoch ms). */
  | { kind: "retry"; at: number }
  /** The receiver answered 410 Gone: stop calling it. */
  | { kind: "gone" }
  /** Give up: a final refusal (a 4xx, a redirect, a refused address) or the last attempt failed. */
  | { kind: "failed"; reason: string };

/**
 * 2xx delivers. Connection errors, timeouts, 5xx, 408 and 429 are retried (a 429 when its
 * Retry-After says, capped at the longest backoff). 410 unsubscribes. Anything else (another 4xx,
 * a redirect, which is never followed) will not change by itself, so it ends the delivery.
 */
export function verdictOf(r: AttemptResult, attempt: number, now: number): Verdict {
  const code = r.status_code;
  if (code !== null && code >= 200 && code < 300) return { kind: "delivered" };
  if (code === 410) return { kind: "gone" };
  if (r.refused) return { kind: "failed", reason: r.error ?? "address not allowed" };
  const retryable = code === null || code >= 500 || code === 408 || code === 429;
  if (!retryable) return { kind: "failed", reason: `the receiver answered ${code}` };
  if (attempt >= MAX_ATTEMPTS) return { kind: "failed", reason: `no success in ${MAX_ATTEMPTS} attempts` };
  const wait = code === 429 && r.retry_after_ms !== undefined ? Math.min(MAX_DELAY_MS, r.retry_after_ms) : backoffMs(attempt);
  return { kind: "retry", at: now + wait };
}
