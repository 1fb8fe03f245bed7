// Request schemas of /schedules. Unknown fields are rejected, as everywhere.
import { z } from "@hono/zod-openapi";
import { OVERLAP_POLICIES } from "../durable/schedule/schedule-resource";
import { planInputRequestSchema, promptSchema, runOptionsRequestSchema } from "./schemas";

const cron = z.string().max(200).openapi({
  description:
    "Standard five-field cron (minute hour day-of-month month day-of-week), or six fields with seconds first. It may fire at most once every SCHEDULE_MIN_INTERVAL_S seconds (default 1).",
  example: "0 9 * * 1-5",
});
const timezone = z.string().min(1).max(100).openapi({ description: "The IANA time zone the cron is read in (default UTC)", example: "Europe/Paris" });
const overlap = z
  .enum(OVERLAP_POLICIES)
  .describe('"skip" (default): an occurrence whose previous run is still going starts none and is recorded as skipped; "allow": it starts anyway');
const paused = z.boolean().describe("A paused schedule starts nothing until resumed; occurrences while paused are not caught up");
const name = z.string().trim().min(1).max(100);

const common = {
  cron,
  timezone: timezone.optional(),
  options: runOptionsRequestSchema.optional(),
  overlap: overlap.optional(),
  paused: paused.optional(),
  name: name.optional().describe("What the schedule is for, shown in listings"),
};

/** POST /schedules: when (cron, time zone) and what (a prompt or a plan, never both), as POST /runs takes it. */
export const createScheduleBodySchema = z
  .union(
    [
      z.strictObject({ ...common, prompt: promptSchema }).openapi("PromptSchedule"),
      z.strictObject({ ...common, plan: planInputRequestSchema }).openapi("PlanSchedule"),
    ],
    { error: 'Give "cron" and exactly one of "prompt" or "plan".' },
  )
  .openapi("CreateSchedule", {}, { unionPreferredType: "oneOf" });
export type CreateScheduleBody = z.infer<typeof createScheduleBodySchema>;

/** PATCH /schedules/{id}: any of the fields; a prompt or a plan replaces what the schedule runs. */
export const updateScheduleBodySchema = z
  .strictObject({
    cron: cron.optional(),
    timezone: timezone.optional(),
    prompt: promptSchema.optional(),
    plan: planInputRequestSchema.optional(),
    options: runOptionsRequestSchema.optional(),
    overlap: overlap.optional(),
    paused: paused.optional().describe("true pauses, false resumes (counting from now)"),
    name: name.nullable().optional().describe("null clears it"),
  })
  .refine((b) => !("prompt" in b && "plan" in b), { message: 'Give at most one of "prompt" or "plan".' })
  .openapi("UpdateSchedule");
export type UpdateScheduleBody = z.infer<typeof updateScheduleBodySchema>;

export const SCHEDULE_ID = /^sch_[0-9a-f]{32}$/;

export const scheduleIdParamsSchema = z.object({
  schedule_id: z
    .string()
    .openapi({ description: "A schedule id (`sch_` and 32 hex digits); any other value is not found", example: "sch_4bf92f3577b34da6a3ce929d0e0e4736" }),
});
