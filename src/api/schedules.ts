import { createRoute, z } from "@hono/zod-openapi";
import { dbFor } from "../db/shards";
import { checkCron } from "../durable/schedule/cron";
import { scheduleClient, type ScheduleClient } from "../durable/schedule/schedule-client";
import type { ScheduleSpec } from "../durable/schedule/schedule-object";
import { scheduleResourceSchema, scheduleSummarySchema, type ScheduleResource } from "../durable/schedule/schedule-resource";
import { runEnded } from "../execution/statuses";
import { errorFields, log } from "../lib/log";
import { makePlan, type PlanSource } from "../planner/make-plan";
import { ApiError } from "./errors";
import { jsonBody } from "./middleware/json-body";
import { ACCESS, createApi, errors, jsonRequest, jsonResponse, LOCATION } from "./openapi";
import { runSchema } from "./response-schemas";
import { startRefusal } from "./runs";
import { indexChanged, indexNew, indexRemoved, listIndexed, runStatuses, scheduleCap } from "./schedule-index";
import { createScheduleBodySchema, SCHEDULE_ID, scheduleIdParamsSchema, updateScheduleBodySchema } from "./schedule-schemas";

/**
 * /schedules: runs started by cron. Each schedule is a ScheduleObject (the source of truth, whose
 * alarm starts the runs); the tenant's D1 index serves listings and the MAX_SCHEDULES cap.
 */
export const schedulesApi = createApi();

const tags = ["Schedules"];
const { security } = ACCESS.apiKey;
const SCHEDULE_LOCATION = { Location: { ...LOCATION.Location, description: "The schedule's URL" } };

const notFound = (id: string) => new ApiError(404, "schedule_not_found", `No schedule has id "${id}".`, { schedule_id: id });

/** A malformed id, an unknown one and another tenant's all answer the same 404. */
function scheduleStub(env: Env, id: string): ScheduleClient {
  if (!SCHEDULE_ID.test(id)) throw notFound(id);
  return scheduleClient(env, id);
}

function minIntervalS(env: Env): number {
  const n = Number(env.SCHEDULE_MIN_INTERVAL_S);
  return Number.isFinite(n) && n > 0 ? n : 1;
}

/** 400 unless the cron fires, in a known zone, no more often than the floor, and the body can be planned. */
async function checkSpec(env: Env, tenant: string, spec: Pick<ScheduleSpec, "cron" | "timezone">, source: PlanSource | null): Promise<void> {
  const cron = checkCron(spec.cron, spec.timezone, minIntervalS(env), Date.now());
  if (!cron.ok) throw new ApiError(400, cron.code, cron.message, { cron: spec.cron, timezone: spec.timezone });
  if (!source) return;
  // Planned once now, so a prompt no planner understands is refused here rather than at every occurrence.
  const planned = await makePlan(source, env, tenant);
  if (!planned.ok) throw new ApiError(400, planned.code, planned.message, planned.details);
}

/**
 * Recent runs with their statuses as they are now, only for runs not yet seen to end: one D1
 * statement, and a request to the run object of each run D1 did not find by its occurrence's time
 * (a run still in flight whose row has not landed yet, or one started long after its occurrence).
 * A run deleted by retention keeps the status the schedule recorded.
 */
async function withLiveStatuses(env: Env, tenant: string, s: ScheduleResource): Promise<ScheduleResource> {
  const open = s.recent_runs.flatMap((r) => (r.run_id !== null && !runEnded(r.status) ? [{ run_id: r.run_id, scheduled_for: r.scheduled_for }] : []));
  if (open.length === 0) return s;
  const statuses = await runStatuses(dbFor(env, tenant), tenant, open);
  await Promise.all(
    open
      .filter((r) => !statuses.has(r.run_id))
      .map(async (r) => {
        try {
          const status = await env.RUNS.getByName(r.run_id).status();
          if (status !== null) statuses.set(r.run_id, status);
        } catch (err) {
          // The schedule's own record answers for it: a view is not failed for one run object.
          log.warn("schedule.run_status_failed", { schedule_id: s.schedule_id, run_id: r.run_id, ...errorFields(err) });
        }
      }),
  );
  return { ...s, recent_runs: s.recent_runs.map((r) => ({ ...r, status: (r.run_id && (statuses.get(r.run_id) as typeof r.status)) || r.status })) };
}

const createSchedule = createRoute({
  method: "post",
  operationId: "createSchedule",
  path: "/schedules",
  tags,
  summary: "Create a schedule: a prompt or plan started by cron",
  description:
    "Answers the schedule with its `next_run_at`. 400 for an invalid cron (`invalid_cron`), an unknown time zone (`unknown_timezone`), a cron that fires more often than SCHEDULE_MIN_INTERVAL_S (`cron_too_frequent`), a prompt that cannot be planned, or a tenant with MAX_SCHEDULES schedules already (`too_many_schedules`).",
  middleware: jsonBody,
  security,
  request: { body: jsonRequest(createScheduleBodySchema, "When, and a prompt or a plan") },
  responses: {
    201: { ...jsonResponse(scheduleResourceSchema, "The schedule"), headers: SCHEDULE_LOCATION },
    ...errors(400, 413, 415),
    ...ACCESS.apiKey.responses,
  },
});

schedulesApi.openapi(createSchedule, async (c) => {
  const body = c.req.valid("json");
  const { tenant } = c.var.principal;
  const source: PlanSource = "plan" in body ? { plan: body.plan } : { prompt: body.prompt };
  const spec: ScheduleSpec = {
    name: body.name ?? null,
    cron: body.cron.trim(),
    timezone: body.timezone ?? "UTC",
    source,
    options: body.options ?? {},
    overlap: body.overlap ?? "skip",
    paused: body.paused ?? false,
  };
  await checkSpec(c.env, c.var.principal.tenant, spec, source);
  const schedule_id = `sch_${crypto.randomUUID().replaceAll("-", "")}`;
  const now = new Date().toISOString();
  const cap = scheduleCap(c.env);
  const row = {
    schedule_id,
    name: spec.name,
    cron: spec.cron,
    timezone: spec.timezone,
    overlap: spec.overlap,
    paused: spec.paused,
    created_at: now,
    updated_at: now,
  };
  if (!(await indexNew(dbFor(c.env, tenant), tenant, { ...row, prompt: "prompt" in source ? source.prompt : null }, cap)))
    throw new ApiError(400, "too_many_schedules", `This tenant has ${cap} schedules, its limit; delete one to make another.`, { limit: cap });
  let schedule: ScheduleResource;
  try {
    schedule = await scheduleClient(c.env, schedule_id).create({ schedule_id, tenant, spec });
  } catch (err) {
    // No schedule without its object: the index entry goes too.
    await indexRemoved(dbFor(c.env, tenant), tenant, schedule_id);
    throw err;
  }
  // The object's times are the schedule's; the index follows them.
  await indexChanged(dbFor(c.env, tenant), tenant, schedule);
  c.header("Location", `/api/v1/schedules/${schedule_id}`);
  return c.json(schedule, 201);
});

const listSchedules = createRoute({
  method: "get",
  operationId: "listSchedules",
  path: "/schedules",
  tags,
  summary: "The tenant's schedules, newest first",
  security,
  responses: {
    200: jsonResponse(z.object({ schedules: z.array(scheduleSummarySchema) }).openapi("ScheduleList"), "Every schedule of the tenant's"),
    ...ACCESS.apiKey.responses,
  },
});

schedulesApi.openapi(listSchedules, async (c) =>
  c.json({ schedules: await listIndexed(dbFor(c.env, c.var.principal.tenant), c.var.principal.tenant, Date.now()) }, 200),
);

const getSchedule = createRoute({
  method: "get",
  operationId: "getSchedule",
  path: "/schedules/{schedule_id}",
  tags,
  summary: "One schedule, with its last 20 occurrences",
  security,
  request: { params: scheduleIdParamsSchema },
  responses: { 200: jsonResponse(scheduleResourceSchema, "The schedule"), ...errors(404), ...ACCESS.apiKey.responses },
});

schedulesApi.openapi(getSchedule, async (c) => {
  const { schedule_id: id } = c.req.valid("param");
  const { tenant } = c.var.principal;
  const schedule = await scheduleStub(c.env, id).get(tenant);
  if (!schedule) throw notFound(id);
  return c.json(await withLiveStatuses(c.env, tenant, schedule), 200);
});

const updateSchedule = createRoute({
  method: "patch",
  operationId: "updateSchedule",
  path: "/schedules/{schedule_id}",
  tags,
  summary: "Pause, resume, or change a schedule's cron, time zone or what it runs",
  description: "A new cron or time zone, or a resume, counts from now: occurrences that fell while paused are not caught up.",
  middleware: jsonBody,
  security,
  request: { params: scheduleIdParamsSchema, body: jsonRequest(updateScheduleBodySchema, "The fields to change") },
  responses: { 200: jsonResponse(scheduleResourceSchema, "The schedule, changed"), ...errors(400, 404, 413, 415), ...ACCESS.apiKey.responses },
});

schedulesApi.openapi(updateSchedule, async (c) => {
  const { schedule_id: id } = c.req.valid("param");
  const body = c.req.valid("json");
  const { tenant } = c.var.principal;
  const stub = scheduleStub(c.env, id);
  const current = await stub.get(tenant);
  if (!current) throw notFound(id);
  const source: PlanSource | null = body.plan ? { plan: body.plan } : body.prompt !== undefined ? { prompt: body.prompt } : null;
  const cron = body.cron?.trim() ?? current.cron;
  const timezone = body.timezone ?? current.timezone;
  if (cron !== current.cron || timezone !== current.timezone || source) await checkSpec(c.env, tenant, { cron, timezone }, source);
  const changes: Partial<ScheduleSpec> = {
    cron,
    timezone,
    ...(source ? { source } : {}),
    ...(body.options ? { options: body.options } : {}),
    ...(body.overlap ? { overlap: body.overlap } : {}),
    ...(body.paused !== undefined ? { paused: body.paused } : {}),
    ...(body.name !== undefined ? { name: body.name } : {}),
  };
  const schedule = await stub.update(tenant, changes);
  if (!schedule) throw notFound(id);
  await indexChanged(dbFor(c.env, tenant), tenant, schedule);
  return c.json(await withLiveStatuses(c.env, tenant, schedule), 200);
});

const deleteSchedule = createRoute({
  method: "delete",
  operationId: "deleteSchedule",
  path: "/schedules/{schedule_id}",
  tags,
  summary: "Delete a schedule (the runs it started go on)",
  security,
  request: { params: scheduleIdParamsSchema },
  responses: { 204: { description: "Deleted" }, ...errors(404), ...ACCESS.apiKey.responses },
});

schedulesApi.openapi(deleteSchedule, async (c) => {
  const { schedule_id: id } = c.req.valid("param");
  const { tenant } = c.var.principal;
  if (!(await scheduleStub(c.env, id).remove(tenant))) throw notFound(id);
  await indexRemoved(dbFor(c.env, tenant), tenant, id);
  return c.body(null, 204);
});

const triggerSchedule = createRoute({
  method: "post",
  operationId: "triggerSchedule",
  path: "/schedules/{schedule_id}/trigger",
  tags,
  summary: "Run the schedule now",
  description:
    "Starts the schedule's run now, whatever its cron, pause or overlap policy, and records it among its occurrences as manual. It counts against the tenant's cap on runs in flight (429).",
  security,
  request: { params: scheduleIdParamsSchema },
  responses: {
    201: { ...jsonResponse(runSchema, "The run it started"), headers: LOCATION },
    ...errors(400, 404, 409, 503),
    ...ACCESS.apiKey.responses,
  },
});

schedulesApi.openapi(triggerSchedule, async (c) => {
  const { schedule_id: id } = c.req.valid("param");
  const answer = await scheduleStub(c.env, id).trigger(c.var.principal.tenant);
  if (!answer.ok && answer.code === "start_failed")
    throw new ApiError(
      503,
      "run_not_started",
      "The run could not be started just now (the error was logged, and the occurrence is recorded as not_started); try again.",
      { schedule_id: id },
      { "Retry-After": "5" },
    );
  if (!answer.ok) throw notFound(id);
  if (!answer.result.ok) throw startRefusal(answer.result);
  c.header("Location", `/api/v1/runs/${answer.result.run.run_id}`);
  return c.json(answer.result.run, 201);
});
