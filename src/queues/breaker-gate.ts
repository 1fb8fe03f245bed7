import { errorFields, log } from "../lib/log";
import { stepError, type StepError } from "../lib/step-error";
import { countsAgainstDependency } from "../durable/breaker-config";
import type { BreakerOpened, Outcome } from "../durable/run-machine";
import { breakerName } from "../durable/tool-breaker";

/**
 * The consumer's side of the circuit breakers. Asking a tool's breaker before every step would
 * add a Durable Object round trip to each one, so a closed answer is cached in this isolate for
 * up to CLOSED_CACHE_MS; open and half-open are never cached, and an outcome that opens the
 * breaker drops the cache at once. An open breaker so takes effect within a second everywhere.
 */
const CLOSED_CACHE_MS = 1000;
const closedUntil = new Map<string, number>();

export const breakersEnabled = (env: Env) => env.BREAKER_ENABLED !== "false";

export type Gate = { allowed: true; probe: boolean } | { allowed: false; retry_at: number; error: StepError };

export async function admit(env: Env, tenant: string, tool: string, runId: string): Promise<Gate> {
  const name = breakerName(tenant, tool);
  if (!breakersEnabled(env) || (closedUntil.get(name) ?? 0) > Date.now()) return { allowed: true, probe: false };
  const a = await env.BREAKERS.getByName(name).admit(tool, runId);
  if (a.allowed) {
    if (a.state === "closed") closedUntil.set(name, Date.now() + CLOSED_CACHE_MS);
    return { allowed: true, probe: a.probe };
  }
  closedUntil.delete(name);
  const when = new Date(a.retry_at).toISOString();
  return {
    allowed: false,
    retry_at: a.retry_at,
    error: stepError("tool_unavailable", `${tool} is temporarily unavailable; retrying after ${when}.`, { retryable: true, retry_after_ms: Math.max(0, a.retry_at - Date.now()) }),
  };
}

/** Tells the breaker how an admitted call went; returns what the run should record if it opened. */
export async function recordOutcome(env: Env, tenant: string, tool: string, outcome: Outcome | "released", probe: boolean): Promise<BreakerOpened | undefined> {
  const name = breakerName(tenant, tool);
  if (!breakersEnabled(env)) return undefined;
  const failed = outcome !== "released" && !outcome.success && countsAgainstDependency(outcome.error.code);
  const neutral = outcome === "released" || (!outcome.success && !failed);
  try {
    const r = await env.BREAKERS.getByName(name).record(tool, { failed, neutral, probe });
    if (r.state !== "closed") closedUntil.delete(name);
    return r.transition?.to === "open" ? { tool, cooldown_ms: r.cooldown_ms, reason: r.transition.reason } : undefined;
  } catch (err) {
    // The breaker is advice: failing to update it must not fail the step.
    log.warn("breaker.record_failed", { tool, ...errorFields(err) });
    return undefined;
  }
}
