// The guard around the alarms of the objects that serve a table of due work by alarm (schedules,
// the webhook outbox, bulk jobs, breakers; the run object has its own). A throw from an alarm
// handler is retried by the runtime only a few times, with its own backoff, and then the alarm is
// gone: the object has no watchdog until some request happens to wake it. So a failed alarm is
// caught here, logged as one structured line, and re-armed by the object itself with exponential
// backoff (1 s, 2 s, 4 s … capped at 5 min, with jitter so objects that failed together do not
// retry together). The count of consecutive failures is kept in the object's synchronous KV
// storage, so the backoff survives an eviction; a success clears it.
import { errorFields, log } from "../lib/log";

const FAILURES_KEY = "alarm_guard.failures";
const BASE_MS = 1000;
const MAX_MS = 5 * 60_000;

/** The wait before the next try after `failures` consecutive failures (at least 1). */
export function alarmBackoffMs(failures: number, random: () => number = Math.random): number {
  const ceiling = Math.min(MAX_MS, BASE_MS * 2 ** Math.min(failures - 1, 20));
  // Between 80 % and 100 % of the ceiling.
  return Math.round(ceiling * (0.8 + 0.2 * random()));
}

/** Consecutive failed alarms of this object so far. */
export const alarmFailures = (storage: DurableObjectStorage): number => storage.kv.get<number>(FAILURES_KEY) ?? 0;

/**
 * Runs the alarm's work. On a throw: logs `<object>.alarm_failed`, re-arms the alarm with backoff
 * (replacing whatever the work armed: due work that keeps failing must not spin), and answers the
 * number of consecutive failures. On success answers 0.
 */
export async function guardAlarm(ctx: DurableObjectState, object: string, fields: Record<string, unknown>, work: () => Promise<void>): Promise<number> {
  try {
    await work();
    if (alarmFailures(ctx.storage) > 0) ctx.storage.kv.delete(FAILURES_KEY);
    return 0;
  } catch (err) {
    const failures = alarmFailures(ctx.storage) + 1;
    const retryInMs = alarmBackoffMs(failures);
    // Storage itself may be what failed; the log line and the re-arm are still worth trying.
    try {
      ctx.storage.kv.put(FAILURES_KEY, failures);
      await ctx.storage.setAlarm(Date.now() + retryInMs);
    } catch (rearm) {
      log.error(`${object}.alarm_rearm_failed`, { ...fields, failures, ...errorFields(rearm) });
      throw err;
    }
    log.error(`${object}.alarm_failed`, { ...fields, failures, retry_in_ms: retryInMs, ...errorFields(err) });
    return failures;
  }
}
