import type { Context } from "hono";
import type { RateLimitReason } from "../../db/metric-rollups";
import { ApiError } from "../errors";
import { countRateLimited } from "../rate-limited-counter";

/**
 * Requests per key through the Workers rate-limiting binding (API_RATE_LIMIT). The binding
 * answers only yes or no; its windows are fixed, so the wait until the current one ends is the
 * Retry-After we give.
 */
export function secondsUntilWindowEnds(now: number, periodS: number): number {
  return Math.max(1, Math.ceil(periodS - ((now / 1000) % periodS)));
}

const periodOf = (env: Env) => (Number(env.API_RATE_LIMIT_PERIOD_S) === 10 ? 10 : 60); // the binding's only two periods

/**
 * Takes `n` more units of the key's budget, one `limit` call each (the binding counts calls, not
 * weights), made together. Answers which were granted, and the Retry-After for those that were
 * not. Used by requests that stand for many (a batch of runs counts each of its items).
 */
export async function takeUnits(c: Context, subject: string, n: number, tenant: string): Promise<{ granted: boolean[]; retryAfterS: number }> {
  const env = c.env as Env;
  const granted = await Promise.all(Array.from({ length: n }, async () => (await env.API_RATE_LIMIT.limit({ key: subject })).success));
  if (granted.includes(false)) countRateLimited(c, tenant, "api_key");
  return { granted, retryAfterS: secondsUntilWindowEnds(Date.now(), periodOf(env)) };
}

/** Counted for GET /metrics by `reason` and `tenant` ("" when the caller is not known). */
export async function enforceRateLimit(c: Context, subject: string, what: string, reason: RateLimitReason, tenant = ""): Promise<void> {
  const env = c.env as Env;
  const { success } = await env.API_RATE_LIMIT.limit({ key: subject });
  if (success) return;
  countRateLimited(c, tenant, reason);
  const retryAfter = secondsUntilWindowEnds(Date.now(), periodOf(env));
  throw new ApiError(
    429,
    "rate_limited",
    `Too many requests ${what}; try again in ${retryAfter} s.`,
    { retry_after_s: retryAfter },
    { "retry-after": String(retryAfter) },
  );
}

/** The client's address, the subject of the limit on failed authentications. */
export const clientAddress = (c: Context) => c.req.header("cf-connecting-ip") ?? "unknown";
