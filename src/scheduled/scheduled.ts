// The Cron Trigger's work, every minute (wrangler.toml [triggers]): first the metric rollup, so
// that the sweep, which only deletes rows the rollup has taken, finds the newest of them taken.
import { rollUpMetrics } from "./roll-up-metrics";
import { sweepExpiredRuns } from "./sweep-expired-runs";

export async function scheduled(env: Env, now: number): Promise<void> {
  await rollUpMetrics(env);
  await sweepExpiredRuns(env, now);
}
