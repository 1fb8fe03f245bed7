import { createRoute, z } from "@hono/zod-openapi";
import { ACTS_ON, BULK_ACTIONS } from "../durable/bulk/bulk-filter";
import type { BulkJob } from "../durable/bulk/bulk-job";
import { RUN_STATUSES } from "../execution/statuses";
import { runCap } from "../durable/run/start-run";
import { ApiError } from "./errors";
import { jsonBody } from "./middleware/json-body";
import { ACCESS, createApi, errors, jsonRequest, jsonResponse } from "./openapi";
import { isoTime } from "./response-schemas";

/** POST /runs/bulk and GET /jobs/{id}: one action on every matching run, in the background. */
export const bulkApi = createApi();

const tags = ["Bulk jobs"];
const { security } = ACCESS.apiKey;
const JOB_ID = /^job_[0-9a-f]{32}$/;

const isoDate = z
  .string()
  .refine((s) => !Number.isNaN(Date.parse(s)), { message: "Use an ISO 8601 date or time." })
  .transform((s) => new Date(s).toISOString())
  .openapi({ description: "An ISO 8601 date or time", example: "2026-01-01T00:00:00Z" });

const bulkFilterSchema = z
  .strictObject({
    status: z.enum(RUN_STATUSES).optional().describe("Only runs in this status (it must be one the action acts on)"),
    created_after: isoDate.optional(),
    created_before: isoDate.optional(),
    tool: z.string().min(1).max(100).optional().describe("Only runs whose plan uses this tool"),
    error_code: z.string().min(1).max(100).optional().describe("Only runs that ended with this error code"),
  })
  .refine((f) => Object.keys(f).length > 0, {
    message: "Give at least one filter field: a job on every run must say so (e.g. created_before: now).",
  })
  .openapi("BulkFilter");

const bulkBodySchema = z
  .strictObject({
    action: z
      .enum(BULK_ACTIONS)
      .describe(
        "cancel: runs in flight (pending, running, waiting, paused); resume: paused, failed and cancelled runs; rerun: failed and cancelled runs, each from its first failed step",
      ),
    filter: bulkFilterSchema,
  })
  .openapi("BulkRequest");

const acceptedSchema = z.object({ job_id: z.string() }).openapi("BulkAccepted");

export const bulkJobSchema = z
  .object({
    job_id: z.string(),
    action: z.enum(BULK_ACTIONS),
    filter: z.record(z.string(), z.unknown()),
    status: z.enum(["running", "completed", "failed"]).describe("failed: its pages kept failing (see error); what was done stays done"),
    error: z.object({ code: z.string(), message: z.string() }).nullable().describe("Why a failed job stopped"),
    matched: z.number().int().describe("Runs the filter matched so far (all of them once completed)"),
    done: z.number().int().describe("Matched runs the action was done on"),
    failed: z.number().int().describe("Matched runs the action was refused for (say, the run ended meanwhile); see failures"),
    failures: z.array(z.object({ run_id: z.string(), code: z.string() })).describe("The last 20 refusals"),
    created_at: isoTime,
    completed_at: isoTime.nullable(),
  })
  .openapi("BulkJob");

const createBulk = createRoute({
  method: "post",
  operationId: "createBulkJob",
  path: "/runs/bulk",
  tags,
  summary: "Cancel, resume or rerun every matching run, in the background",
  description:
    "Acts on the caller's runs that the filter matches in the read model (runs created before the job; at least one filter field). Answers 202 with the job's id at once; GET /jobs/{job_id} shows its progress.",
  middleware: jsonBody,
  security,
  request: { body: jsonRequest(bulkBodySchema, "The action and which runs") },
  responses: { 202: jsonResponse(acceptedSchema, "The job, started"), ...errors(400, 413, 415), ...ACCESS.apiKey.responses },
});

const jobStub = (env: Env, jobId: string) => env.BULK_JOBS.getByName(jobId) as unknown as Pick<BulkJob, "start" | "get">;

bulkApi.openapi(createBulk, async (c) => {
  const { action, filter } = c.req.valid("json");
  if (filter.status && !ACTS_ON[action].includes(filter.status))
    throw new ApiError(400, "status_not_actionable", `A bulk ${action} acts on runs that are ${ACTS_ON[action].join(", ")}; not on ${filter.status} ones.`, {
      statuses: ACTS_ON[action],
    });
  const jobId = `job_${crypto.randomUUID().replaceAll("-", "")}`;
  await jobStub(c.env, jobId).start({
    job_id: jobId,
    tenant: c.var.principal.tenant,
    action,
    filter,
    cap: runCap(c.env),
    ...(c.var.principal.retention_days ? { retention_days: c.var.principal.retention_days } : {}),
  });
  return c.json({ job_id: jobId }, 202);
});

const getJob = createRoute({
  method: "get",
  operationId: "getBulkJob",
  path: "/jobs/{job_id}",
  tags,
  summary: "A bulk job's progress",
  security,
  request: {
    params: z.object({ job_id: z.string().openapi({ description: "A job id (`job_` and 32 hex digits); any other value is not found" }) }),
  },
  responses: { 200: jsonResponse(bulkJobSchema, "The job"), ...errors(404), ...ACCESS.apiKey.responses },
});

bulkApi.openapi(getJob, async (c) => {
  const { job_id: jobId } = c.req.valid("param");
  const notFound = new ApiError(404, "job_not_found", `No job has id "${jobId}".`, { job_id: jobId });
  if (!JOB_ID.test(jobId)) throw notFound;
  const job = await jobStub(c.env, jobId).get(c.var.principal.tenant);
  if (!job) throw notFound;
  return c.json(job, 200);
});
