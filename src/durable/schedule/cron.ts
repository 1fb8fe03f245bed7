// Cron expressions, parsed and walked by croner: standard five fields (minute precision), or six
// with a leading seconds field, in an IANA time zone. Pure functions of (expression, zone, time);
// the schedule object and the API both use them, so a listing can say a schedule's next run
// without asking its object.
import { Cron } from "croner";

export type CronRefusal = { ok: false; code: "invalid_cron" | "unknown_timezone" | "cron_too_frequent"; message: string };

/** How many upcoming occurrences are measured for a frequency floor above 1 s. */
const FLOOR_SAMPLE = 100;
/** Occurrences counted one by one after downtime; past this the count is a lower bound. */
const MISSED_COUNT_CAP = 1000;
/** Missed occurrences written one by one (the recent-runs list keeps 20 anyway). */
const MISSED_KEPT = 19;

/** An IANA zone name the runtime knows (its ICU data decides: "Europe/Paris", "UTC", …). */
export function knownTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

function cronOf(expression: string, timezone: string): Cron {
  // `paused`: croner only evaluates here, it never sets a timer of its own.
  return new Cron(expression, { timezone, paused: true, mode: "5-or-6-parts" });
}

/**
 * Checks an expression in a zone: five or six fields that croner accepts, a zone the runtime
 * knows, an expression that fires at all, and no two of its next occurrences closer than
 * `minIntervalS` seconds.
 */
export function checkCron(expression: string, timezone: string, minIntervalS: number, now: number): { ok: true } | CronRefusal {
  const fields = expression.trim().split(/\s+/);
  // croner also takes ISO dates and seven fields (years); a schedule is a cron of five or six.
  if (fields.length !== 5 && fields.length !== 6)
    return {
      ok: false,
      code: "invalid_cron",
      message: `"${expression}" has ${fields.length} fields; use five (minute hour day month weekday), or six with seconds first.`,
    };
  if (!knownTimeZone(timezone))
    return { ok: false, code: "unknown_timezone", message: `"${timezone}" is not an IANA time zone (for example "UTC" or "Europe/Paris").` };
  let upcoming: Date[];
  try {
    // Occurrences fall on whole seconds, so a floor of 1 s holds for every cron: one is enough to
    // know it fires (walking 200 in a time zone costs a few hundred ms of CPU).
    upcoming = cronOf(expression, timezone).nextRuns(minIntervalS <= 1 ? 1 : FLOOR_SAMPLE, new Date(now));
  } catch (err) {
    return {
      ok: false,
      code: "invalid_cron",
      message: `"${expression}" is not a valid cron expression: ${(err as Error).message.replace(/^CronPattern: /, "")}`,
    };
  }
  if (upcoming.length === 0) return { ok: false, code: "invalid_cron", message: `"${expression}" never fires.` };
  for (let i = 1; i < upcoming.length; i++) {
    const gapS = (upcoming[i]!.getTime() - upcoming[i - 1]!.getTime()) / 1000;
    if (gapS < minIntervalS)
      return {
        ok: false,
        code: "cron_too_frequent",
        message: `"${expression}" fires every ${gapS} s at times; schedules may fire at most once every ${minIntervalS} s.`,
      };
  }
  return { ok: true };
}

/** The first occurrence strictly after `afterMs` (epoch ms), or null if there is none. */
export function nextOccurrence(expression: string, timezone: string, afterMs: number): number | null {
  return cronOf(expression, timezone).nextRun(new Date(afterMs))?.getTime() ?? null;
}

export interface DueOccurrences {
  /** The last occurrence at or before now: the one that runs. */
  latest: number;
  /** The occurrences before it that were due and did not run, oldest first (at most the last 19). */
  missed: number[];
  /** How many were missed in all (a lower bound when `capped`). */
  missed_count: number;
  capped: boolean;
}

/**
 * The occurrences due between `fromMs` (an occurrence, the one the alarm was set for) and `nowMs`.
 * Null when none is due yet. After downtime only the latest runs; the rest are missed.
 */
export function dueOccurrences(expression: string, timezone: string, fromMs: number, nowMs: number): DueOccurrences | null {
  if (fromMs > nowMs) return null;
  const cron = cronOf(expression, timezone);
  // A run earlier in the same second as the reference counts, so +1 ms takes one exactly at now.
  const latest = Math.max(fromMs, cron.previousRuns(1, new Date(nowMs + 1))[0]?.getTime() ?? fromMs);
  if (latest === fromMs) return { latest, missed: [], missed_count: 0, capped: false };
  const before = cron
    .previousRuns(MISSED_KEPT, new Date(latest))
    .map((d) => d.getTime())
    .filter((t) => t >= fromMs && t < latest)
    .reverse();
  let count = 0;
  for (let t: number | null = fromMs; t !== null && t < latest && count < MISSED_COUNT_CAP; t = cron.nextRun(new Date(t))?.getTime() ?? null) count++;
  return { latest, missed: before, missed_count: count, capped: count >= MISSED_COUNT_CAP };
}
