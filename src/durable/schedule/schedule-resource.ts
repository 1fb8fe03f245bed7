// The schedule resource that GET /schedules/{id} serves, as one zod schema: the schedule object's
// view is typed by it and the OpenAPI document names it `Schedule`, so the two cannot drift (as
// run-resource.ts does for runs).
import { z } from "zod";
import { runOptionsSchema } from "../../execution/run-options";
import { RUN_STATUSES } from "../../execution/statuses";
import { planInputSchema } from "../../execution/plan-schema";

const isoTime = z.string().meta({ format: "date-time", description: "ISO 8601 time" });

export const OVERLAP_POLICIES = ["skip", "allow"] as const;
export type OverlapPolicy = (typeof OVERLAP_POLICIES)[number];

/**
 * What became of an occurrence that started no run: `skipped` (overlap "skip" and the previous run
 * was still going), `missed` (due while nothing could fire it; after downtime only the latest
 * runs), `refused` (the tenant's cap on runs in flight was reached), `not_started` (planning or
 * starting failed; see `error`).
 */
export const OCCURRENCE_OUTCOMES = ["skipped", "missed", "refused", "not_started"] as const;
export type OccurrenceOutcome = (typeof OCCURRENCE_OUTCOMES)[number];
export const OCCURRENCE_STATUSES = [...RUN_STATUSES, ...OCCURRENCE_OUTCOMES] as const;
export type OccurrenceStatus = (typeof OCCURRENCE_STATUSES)[number];

export const recentRunSchema = z
  .object({
    run_id: z.string().nullable().describe("The run this occurrence started; null when it started none"),
    scheduled_for: isoTime.describe("The occurrence's time, or the moment of a manual trigger"),
    status: z.enum(OCCURRENCE_STATUSES).describe("The run's status, or why the occurrence started no run"),
    manual: z.boolean().describe("Started by POST /schedules/{schedule_id}/trigger"),
    error: z.object({ code: z.string(), message: z.string() }).nullable().describe("Why a refused or not_started occurrence started no run"),
  })
  .meta({ id: "ScheduleOccurrence" });
export type RecentRun = z.infer<typeof recentRunSchema>;

/** The fields of a schedule every view shows (the list's entries have these). */
export const scheduleSummarySchema = z
  .object({
    schedule_id: z.string(),
    name: z.string().nullable(),
    cron: z.string().describe("Five fields (minute hour day month weekday), or six with seconds first"),
    timezone: z.string().describe("The IANA time zone the cron is read in"),
    overlap: z.enum(OVERLAP_POLICIES),
    paused: z.boolean(),
    prompt: z.string().nullable().describe("The task each occurrence runs; null when the schedule runs a plan"),
    next_run_at: isoTime.nullable().describe("The next occurrence; null while paused"),
    created_at: isoTime,
    updated_at: isoTime,
  })
  .meta({ id: "ScheduleSummary" });
export type ScheduleSummary = z.infer<typeof scheduleSummarySchema>;

export const scheduleResourceSchema = scheduleSummarySchema
  .extend({
    // A union with null, not .nullable(), for the reason run-resource.ts gives.
    plan: z.union([planInputSchema.meta({ id: "SchedulePlan" }), z.null()]).describe("The plan each occurrence runs; null when the schedule runs a prompt"),
    options: runOptionsSchema.describe("The run options each occurrence's run gets"),
    recent_runs: z.array(recentRunSchema).describe("The last 20 occurrences, newest first"),
  })
  .meta({ id: "Schedule" });
export type ScheduleResource = z.infer<typeof scheduleResourceSchema>;
