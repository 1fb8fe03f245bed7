// The breaker's state machine as pure functions: closed → open → half_open → closed, with the
// cooldown doubling (up to a maximum) each time a half-open probe fails.
import type { BreakerSettings } from "./breaker-config";

export type BreakerStateName = "closed" | "open" | "half_open";

export interface BreakerState {
  state: BreakerStateName;
  consecutive_failures: number;
  /** Recent calls in the sliding window: [epoch ms, failed]. */
  window: [number, boolean][];
  cooldown_ms: number;
  opened_at: number | null;
  open_until: number | null;
  probes_in_flight: number;
  last_transition_at: number | null;
  /** When the last half-open probe was let through; a probe whose consumer died expires. */
  probe_at: number | null;
  trips: number;
  /** Transitions into each state since the breaker was made, for GET /metrics (absent in states saved before). */
  transitions?: Record<BreakerStateName, number>;
  /** admit and record calls served, each a billed Durable Object request and one row written. */
  requests: number;
  /** Rows this breaker has written (its saves); healthy successes are not saved. */
  rows_written: number;
  /** The waking of waiting runs under way since the last half-open or close (absent: none). */
  wake?: WakePass | null;
  /** The last wake that ended, kept for a look afterwards (operators' logs, tests). */
  last_wake?: WakePass | null;
  /** The transition count (`version`) that breaker_states in D1 last took; absent: none yet. */
  published?: number;
  /** When to try again a write to breaker_states that failed (epoch ms; null: none failed). */
  publish_retry_at?: number | null;
}

/**
 * Waiting runs told of one transition, a batch per alarm: those remembered up to `upto` (the wait
 * list's sequence when the transition happened), so a run remembered again after it was told (a
 * half-open breaker turned it away) is not told again until the next transition.
 */
export interface WakePass {
  to: "half_open" | "closed";
  upto: number;
  /** When the next batch is due (epoch ms). */
  next_at: number;
  batches: number;
  woken: number;
  /** The largest batch so far: never above the wake batch size. */
  largest_batch: number;
}

/** A half-open probe whose consumer never reported is given up after this long. */
export const PROBE_EXPIRY_MS = 60_000;

/** Transitions made so far: the version breaker_states rows are ordered by. */
export const versionOf = (s: BreakerState): number => {
  const t = s.transitions;
  return t ? t.closed + t.open + t.half_open : 0;
};

/** A half-open probe that has not reported within PROBE_EXPIRY_MS frees its slot. */
export function expireProbe(s: BreakerState, now: number): void {
  if (s.state === "half_open" && s.probe_at !== null && now - s.probe_at > PROBE_EXPIRY_MS) s.probes_in_flight = 0;
}

/** When the probe in flight, if any, expires (epoch ms); null when no probe is out. */
export const probeExpiresAt = (s: BreakerState): number | null =>
  s.state === "half_open" && s.probes_in_flight > 0 && s.probe_at !== null ? s.probe_at + PROBE_EXPIRY_MS + 1 : null;

export type Transition = { from: BreakerStateName; to: BreakerStateName; reason: string } | null;

/** The fields a breaker has whenever it is closed: at the start, and after every close. */
const closedFields = (settings: BreakerSettings, now: number | null) => ({
  state: "closed" as const,
  consecutive_failures: 0,
  window: [] as [number, boolean][],
  cooldown_ms: settings.cooldown_ms,
  opened_at: null,
  open_until: null,
  probes_in_flight: 0,
  last_transition_at: now,
});

export function initialBreaker(settings: BreakerSettings): BreakerState {
  return { ...closedFields(settings, null), probe_at: null, trips: 0, requests: 0, rows_written: 0 };
}

function open(s: BreakerState, now: number, cooldown: number, reason: string): Transition {
  const from = s.state;
  Object.assign(s, {
    state: "open",
    opened_at: now,
    open_until: now + cooldown,
    cooldown_ms: cooldown,
    probes_in_flight: 0,
    last_transition_at: now,
    trips: s.trips + 1,
  });
  return { from, to: "open", reason };
}

export function close(s: BreakerState, now: number, settings: BreakerSettings, reason: string): Transition {
  const from = s.state;
  Object.assign(s, closedFields(settings, now));
  return from === "closed" ? null : { from, to: "closed", reason };
}

/** Open → half-open once the cooldown has passed (the alarm calls this). */
export function cooldownOver(s: BreakerState, now: number): Transition {
  if (s.state !== "open" || s.open_until === null || s.open_until > now) return null;
  Object.assign(s, { state: "half_open", probes_in_flight: 0, last_transition_at: now });
  return { from: "open", to: "half_open", reason: "cooldown ended" };
}

export type Admission = { allowed: true; probe: boolean } | { allowed: false; retry_at: number };

export function admit(s: BreakerState, now: number, settings: BreakerSettings): { admission: Admission; transition: Transition } {
  const transition = cooldownOver(s, now);
  if (s.state === "closed") return { admission: { allowed: true, probe: false }, transition };
  expireProbe(s, now);
  if (s.state === "half_open" && s.probes_in_flight < settings.half_open_probes) {
    s.probes_in_flight += 1;
    s.probe_at = now;
    return { admission: { allowed: true, probe: true }, transition };
  }
  // Open: come back when it may half-open. Half-open with its probes taken: shortly.
  const retry_at = s.state === "open" ? s.open_until! : now + Math.min(1000, settings.cooldown_ms);
  return { admission: { allowed: false, retry_at }, transition };
}

/**
 * What one admitted call says about the dependency: it worked; it failed in a way that counts
 * against the dependency (timeouts, 5xx, connection errors); it said nothing (bad input, a 4xx);
 * or it never ran (a probe slot given back).
 */
export type Verdict = "success" | "dependency_failure" | "neutral" | "released";

export function record(s: BreakerState, now: number, settings: BreakerSettings, outcome: { verdict: Verdict; probe: boolean }): Transition {
  const { verdict } = outcome;
  if (outcome.probe && s.state === "half_open") {
    s.probes_in_flight = Math.max(0, s.probes_in_flight - 1);
    if (verdict === "neutral" || verdict === "released") return null;
    if (verdict === "dependency_failure") return open(s, now, Math.min(settings.max_cooldown_ms, s.cooldown_ms * 2), "half-open probe failed");
    return close(s, now, settings, "half-open probe succeeded");
  }
  if (s.state !== "closed" || verdict === "neutral" || verdict === "released") return null;
  const failed = verdict === "dependency_failure";
  s.window = s.window.filter(([at]) => at > now - settings.window_ms).slice(-1000);
  s.window.push([now, failed]);
  s.consecutive_failures = failed ? s.consecutive_failures + 1 : 0;
  // Only a failure trips the breaker: a success never opens it (so consumers can record successes
  // off the critical path), even when it brings the window up to its minimum number of calls.
  if (!failed) return null;
  if (s.consecutive_failures >= settings.failure_threshold) return open(s, now, settings.cooldown_ms, `${s.consecutive_failures} consecutive failures`);
  const failures = s.window.filter(([, f]) => f).length;
  if (s.window.length >= settings.window_min_calls && failures / s.window.length >= settings.window_failure_rate) {
    return open(s, now, settings.cooldown_ms, `${failures} of ${s.window.length} calls failed within ${settings.window_ms} ms`);
  }
  return null;
}
