// The consumer's side of the circuit breakers, kept off the hot path. Asking a tool's breaker
// before every step and telling it after would add two Durable Object round trips to each one:
// - a closed answer is cached in this isolate for up to CLOSED_CACHE_MS (open and half-open are
//   never cached, and an outcome that opens the breaker drops the cache at once);
// - successes are counted here and handed over with the next request this isolate makes to the
//   breaker anyway (an admit when the cache expires, or a failure). A success never opens a
//   breaker, so it can wait; a failure, which might, is recorded at once.
// An open breaker so takes effect within a second everywhere, and a healthy tool costs about one
// breaker request per isolate per second instead of two per step.
import type { Verdict } from "../durable/breaker/breaker-state";
import { breakerName, type ToolBreaker } from "../durable/breaker/tool-breaker";
import type { BreakerOpened, Outcome } from "../execution/step-protocol";
import { errorFields, log } from "../lib/log";
import { countsAgainstDependency, stepError, type StepError } from "../execution/step-error";

const CLOSED_CACHE_MS = 1000;
const closedUntil = new Map<string, number>();
/** Successes not yet handed to their breaker, per breaker name. */
const unrecorded = new Map<string, number>();

function verdictOf(outcome: Outcome | "released"): Verdict {
  if (outcome === "released") return "released";
  if (outcome.success) return "success";
  return countsAgainstDependency(outcome.error.code) ? "dependency_failure" : "neutral";
}

export const breakersEnabled = (env: Env) => env.BREAKER_ENABLED !== "false";

export type Gate = { allowed: true; probe: boolean } | { allowed: false; retry_at: number; error: StepError };

function takeSuccesses(name: string): number {
  const n = unrecorded.get(name) ?? 0;
  unrecorded.delete(name);
  return n;
}

/** Gives back successes that could not be handed over, so they are not lost. */
function putBack(name: string, n: number): void {
  if (n > 0) unrecorded.set(name, (unrecorded.get(name) ?? 0) + n);
}

type Admission = Awaited<ReturnType<ToolBreaker["admit"]>>;
/** The admit request in flight per breaker name, so steps that start together ask once. */
const asking = new Map<string, Promise<Admission>>();

export async function admit(env: Env, tenant: string, tool: string, runId: string): Promise<Gate> {
  const name = breakerName(tenant, tool);
  if (!breakersEnabled(env) || (closedUntil.get(name) ?? 0) > Date.now()) return { allowed: true, probe: false };
  // Steps of a batch that find the cache cold together share one answer, when it is "closed": that
  // answer is cached for everyone a moment later anyway. Any other answer (open, or half-open with
  // its single probe) is per step, so they ask for themselves.
  const pending = asking.get(name);
  if (pending) {
    const shared = await pending.catch(() => undefined);
    if (shared?.allowed && shared.state === "closed") return { allowed: true, probe: false };
  }
  const successes = takeSuccesses(name);
  let a: Admission;
  const request = env.BREAKERS.getByName(name).admit(tool, runId, successes);
  asking.set(name, request);
  try {
    a = await request;
  } catch (err) {
    putBack(name, successes);
    throw err;
  } finally {
    if (asking.get(name) === request) asking.delete(name);
  }
  if (a.allowed) {
    if (a.state === "closed") closedUntil.set(name, Date.now() + CLOSED_CACHE_MS);
    return { allowed: true, probe: a.probe };
  }
  closedUntil.delete(name);
  const when = new Date(a.retry_at).toISOString();
  return {
    allowed: false,
    retry_at: a.retry_at,
    // A run the breaker remembered is told when it half-opens or closes; `retry_at` is the latest.
    error: stepError("tool_unavailable", `${tool} is temporarily unavailable; retrying after ${when}, or as soon as it recovers.`, {
      retry_after_ms: Math.max(0, a.retry_at - Date.now()),
    }),
  };
}

/**
 * Tells the breaker how an admitted call went, when it must know now: a failure that counts
 * against the dependency, or a probe's result. Other successes are only counted. Returns what
 * the run should record if the breaker opened.
 */
export async function recordOutcome(env: Env, tenant: string, tool: string, outcome: Outcome | "released", probe: boolean): Promise<BreakerOpened | undefined> {
  if (!breakersEnabled(env)) return undefined;
  const name = breakerName(tenant, tool);
  const verdict = verdictOf(outcome);
  if (!probe && verdict !== "dependency_failure") {
    if (verdict === "success") unrecorded.set(name, (unrecorded.get(name) ?? 0) + 1);
    return undefined;
  }
  const successes = takeSuccesses(name);
  try {
    const r = await env.BREAKERS.getByName(name).record(tool, { verdict, probe }, successes);
    if (r.state !== "closed") closedUntil.delete(name);
    return r.transition?.to === "open" ? { tool, cooldown_ms: r.cooldown_ms, reason: r.transition.reason } : undefined;
  } catch (err) {
    // The breaker is advice: failing to update it must not fail the step.
    putBack(name, successes);
    log.warn("breaker.record_failed", { tool, ...errorFields(err) });
    return undefined;
  }
}
