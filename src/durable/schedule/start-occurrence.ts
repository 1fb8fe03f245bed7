// Starting the run of one occurrence of a schedule, through startRun like every other entry point.
// The Idempotency-Key is derived from the schedule and the occurrence's time, so an occurrence
// started twice (a duplicate alarm, a retry after a crash between the start and its record) is
// the same run both times.
import { runEnded } from "../../execution/statuses";
import type { RunOptions } from "../../execution/run-options";
import { errorFields, log } from "../../lib/log";
import type { PlanSource } from "../../planner/make-plan";
import { tenantRetentionDays } from "../run/effects/retention";
import { startRun, type StartRunResult } from "../run/start-run";
import type { Occurrence } from "./occurrences";

export interface OccurrenceRequest {
  schedule_id: string;
  tenant: string;
  source: PlanSource;
  options: RunOptions;
  /** Epoch ms: the occurrence, or the moment of a manual trigger. */
  scheduled_for: number;
  manual: boolean;
}

/** The key that makes an occurrence one run however often it is started. */
export const occurrenceKey = (r: Pick<OccurrenceRequest, "schedule_id" | "scheduled_for" | "manual">) =>
  `schedule:${r.schedule_id}:${r.manual ? "manual:" : ""}${new Date(r.scheduled_for).toISOString()}`;

/** Starts the occurrence's run; answers what to record of it, and startRun's own result for a caller that reports it. */
export async function startOccurrence(env: Env, r: OccurrenceRequest): Promise<{ occurrence: Occurrence; result: StartRunResult | null }> {
  const scheduled_for = new Date(r.scheduled_for).toISOString();
  const base = { scheduled_for: r.scheduled_for, manual: r.manual };
  let result: StartRunResult;
  try {
    // No API key here to bring the tenant's retention along: one read, once per occurrence.
    const retention = await tenantRetentionDays(env, r.tenant);
    result = await startRun(env, {
      tenant: r.tenant,
      ...(retention ? { retention_days: retention } : {}),
      // What the run's request hash covers: a replay of the occurrence with the same body is the same run.
      body: { ...r.source, options: r.options, schedule_id: r.schedule_id, scheduled_for },
      source: r.source,
      options: r.options,
      idempotency_key: occurrenceKey(r),
      schedule: { schedule_id: r.schedule_id, scheduled_for },
    });
  } catch (err) {
    // The schedule goes on: this occurrence is recorded with why, and the next one fires as usual.
    log.error("schedule.start_failed", { schedule_id: r.schedule_id, tenant: r.tenant, scheduled_for, ...errorFields(err) });
    const error = { code: "start_failed", message: "The run could not be started; the error was logged." };
    return { occurrence: { ...base, run_id: null, status: "not_started", error }, result: null };
  }
  if (result.ok) return { occurrence: { ...base, run_id: result.run.run_id, status: result.run.status, error: null }, result };
  switch (result.code) {
    case "idempotency_conflict":
      // The occurrence's run exists, made from the body the schedule had then.
      return { occurrence: { ...base, run_id: result.run_id, status: "pending", error: null }, result };
    case "too_many_runs_in_flight":
      return {
        occurrence: {
          ...base,
          run_id: null,
          status: "refused",
          error: { code: result.code, message: `The tenant had ${result.in_flight} runs in flight, its limit.` },
        },
        result,
      };
    default:
      return { occurrence: { ...base, run_id: null, status: "not_started", error: { code: result.code, message: result.message } }, result };
  }
}

/**
 * Whether the schedule's previous run is still going, asked of its run object (the source of
 * truth) unless the schedule already saw it end. One request, paid only by overlap "skip".
 */
export async function stillGoing(env: Env, last: { run_id: string; status: string } | null): Promise<{ going: boolean; status: string | null }> {
  if (!last || runEnded(last.status)) return { going: false, status: last?.status ?? null };
  try {
    const status = await env.RUNS.getByName(last.run_id).status();
    return { going: status !== null && !runEnded(status), status };
  } catch (err) {
    // Unanswered, the previous run may be going: skipping is what "skip" would do then, and the
    // schedule goes on (a thrown alarm is retried only a few times).
    log.warn("schedule.overlap_check_failed", { run_id: last.run_id, ...errorFields(err) });
    return { going: true, status: "unknown" };
  }
}
