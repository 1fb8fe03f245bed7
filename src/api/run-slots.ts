import type { AcquireResult } from "../durable/tenant-limiter";
import { ApiError } from "./errors";

/**
 * The per-tenant cap on runs in flight (MAX_RUNS_IN_FLIGHT), held by the tenant's TenantLimiter.
 * A run takes a slot before its object is created or resumed; `held` says it already had one.
 */
const DEFAULT_CAP = 100;
const RETRY_AFTER_S = 5;

export function runCap(env: Env): number {
  const n = Number(env.MAX_RUNS_IN_FLIGHT);
  return Number.isInteger(n) && n > 0 ? n : DEFAULT_CAP;
}

export async function acquireRunSlot(env: Env, tenant: string, runId: string): Promise<{ held: boolean; release: () => Promise<void> }> {
  const limiter = env.TENANTS.getByName(tenant);
  const r = (await limiter.acquire(runId, runCap(env))) as AcquireResult;
  if (!r.ok) {
    throw new ApiError(
      429,
      "too_many_runs_in_flight",
      `This tenant has ${r.in_flight} runs in flight, its limit; start more when some have ended.`,
      { in_flight: r.in_flight, limit: r.cap, retry_after_s: RETRY_AFTER_S },
      { "retry-after": String(RETRY_AFTER_S) },
    );
  }
  return { held: r.held, release: () => limiter.release(runId) };
}
