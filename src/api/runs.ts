import { createRoute } from "@hono/zod-openapi";
import { runEnded } from "../execution/statuses";
import { parseTraceparent } from "../lib/trace";
import { ApiError } from "./errors";
import { eventPageSchema, type ApiEvent } from "./event-schemas";
import { jsonBody, optionalJsonBody } from "./middleware/json-body";
import { ACCESS, createApi, errors, jsonRequest, jsonResponse, LOCATION } from "./openapi";
import { runListSchema, runSchema, usageSchema } from "./response-schemas";
import { runCap, startRun, type StartRunResult } from "../durable/run/start-run";
import type { Context } from "hono";
import type { AppEnv } from "./app-env";
import type { ControlAnswer } from "../durable/run/contract";
import type { z } from "@hono/zod-openapi";
import { countRateLimited } from "./rate-limited-counter";
import type { PlanSource } from "../planner/make-plan";
import { AGENT_TOOL } from "../tools/agent-run/tool-patterns";
import { runNotFound, runStub } from "./run-lookup";
import {
  cancelRunBodySchema,
  createRunBodySchema,
  type CreateRunBody,
  createRunHeadersSchema,
  createRunQuerySchema,
  listEventsQuerySchema,
  listRunsQuerySchema,
  runIdParamsSchema,
} from "./schemas";
import { dbFor } from "../db/shards";
import { historyPage, runSummary } from "./run-history";

/** /runs: create, read, list, events, usage, cancel, resume. Live state comes from the run object, history from D1. */
export const runsApi = createApi();

const tags = ["Runs"];
const { security } = ACCESS.apiKey;
const RETRY_AFTER_S = 5;
const atCapacity = (r: { in_flight: number; cap: number }) =>
  new ApiError(
    429,
    "too_many_runs_in_flight",
    `This tenant has ${r.in_flight} runs in flight, its limit; start more when some have ended.`,
    { in_flight: r.in_flight, limit: r.cap, retry_after_s: RETRY_AFTER_S },
    { "retry-after": String(RETRY_AFTER_S) },
  );

const runAnswer = (description: string) => ({ ...jsonResponse(runSchema, description), headers: LOCATION });

/**
 * POST /runs[?wait=N]: one request to the new run's object, which takes the tenant's slot only if
 * the run will stay in flight and answers as soon as the run is durable (the D1 read model
 * follows). With an Idempotency-Key the object is asked first whether this is a replay, so a
 * replay is never planned again. With `wait`, the answer comes once the run has ended (201, or
 * 200 for a replay) or after N seconds with the run as it stands (202).
 */
const createRun = createRoute({
  method: "post",
  operationId: "createRun",
  path: "/runs",
  tags,
  summary: "Plan and start a run",
  description:
    "Idempotency-Key makes retries safe; `?wait=N` answers once the run has ended, or after N seconds with the run as it stands (202). `agent` is shorthand for a plan of one Agent.run step: a model that calls tools, sees their results and answers (its text streams as `llm.delta` events). A plan with an Agent.run step needs a model (LLM_MODEL with LLM_BASE_URL, or the AI binding): without one it is refused with 400 `model_not_configured`; a `budget.max_cost_usd` for a model with no price in LLM_PRICES is refused with 400 too.",
  middleware: jsonBody,
  security,
  request: {
    query: createRunQuerySchema,
    headers: createRunHeadersSchema,
    body: jsonRequest(createRunBodySchema, "A prompt, a plan or an agent (one Agent.run step), and options"),
  },
  responses: {
    201: runAnswer("The run, created (with ?wait, as it ended if it ended within the wait)"),
    200: runAnswer("A replay of the Idempotency-Key: the run it created"),
    202: runAnswer("With ?wait: the run had not ended within the wait; the run as it stands"),
    ...errors(400, 409, 413, 415),
    ...ACCESS.apiKey.responses,
  },
});

runsApi.openapi(createRun, async (c) => {
  const body = c.req.valid("json");
  const { wait } = c.req.valid("query");
  const { "idempotency-key": key, traceparent } = c.req.valid("header");
  const caller = parseTraceparent(traceparent);
  const result = await startRun(c.env, {
    tenant: c.var.principal.tenant,
    ...(c.var.principal.retention_days ? { retention_days: c.var.principal.retention_days } : {}),
    body,
    source: runSource(body),
    options: body.options ?? {},
    ...(body.webhook ? { webhook: body.webhook } : {}),
    // Honour the caller's trace (W3C traceparent) or start one.
    ...(caller ? { trace_id: caller.trace_id, parent_span_id: caller.span_id } : {}),
    ...(key ? { idempotency_key: key } : {}),
    ...(wait ? { wait_ms: Math.round(wait * 1000) } : {}),
  });
  if (!result.ok) {
    if (result.code === "too_many_runs_in_flight") countRateLimited(c, c.var.principal.tenant, "runs_in_flight");
    throw startRefusal(result);
  }
  c.header("Location", `/api/v1/runs/${result.run.run_id}`);
  return c.json(result.run, wait && !runEnded(result.run.status) ? 202 : result.outcome === "created" ? 201 : 200);
});

/** What POST /runs asks to run: a prompt to plan, a plan, or one Agent.run step. */
export function runSource(body: CreateRunBody): PlanSource {
  if ("plan" in body) return { plan: body.plan };
  if ("agent" in body) return { plan: { steps: [{ step_number: 1, tool: AGENT_TOOL, input: body.agent, depends_on: [] }] } };
  return { prompt: body.prompt };
}

/** A run that could not start, in the API's error shape. */
export function startRefusal(result: Exclude<StartRunResult, { ok: true }>): ApiError {
  switch (result.code) {
    case "idempotency_conflict":
      return new ApiError(409, "idempotency_conflict", "This Idempotency-Key was already used with a different request body.", { run_id: result.run_id });
    case "too_many_runs_in_flight":
      return atCapacity(result);
    default:
      return new ApiError(400, result.code, result.message, result.details);
  }
}

const listRuns = createRoute({
  method: "get",
  operationId: "listRuns",
  path: "/runs",
  tags,
  summary: "Run history from D1, newest first",
  security,
  request: { query: listRunsQuerySchema },
  responses: { 200: jsonResponse(runListSchema, "A page of runs"), ...errors(400), ...ACCESS.apiKey.responses },
});

runsApi.openapi(listRuns, async (c) => {
  const { limit, ...filter } = c.req.valid("query");
  const { tenant } = c.var.principal;
  // The tenant's own shard, and no other.
  const page = await historyPage([dbFor(c.env, tenant)], { ...filter, tenant }, limit);
  return c.json({ runs: page.rows.map(runSummary), next_cursor: page.next_cursor }, 200);
});

const getRun = createRoute({
  method: "get",
  operationId: "getRun",
  path: "/runs/{run_id}",
  tags,
  summary: "The whole run, live from its run object",
  security,
  request: { params: runIdParamsSchema },
  responses: { 200: jsonResponse(runSchema, "The run"), ...errors(404), ...ACCESS.apiKey.responses },
});

runsApi.openapi(getRun, async (c) => {
  const { run_id: runId } = c.req.valid("param");
  const run = await runStub(c.env, runId).getRun(c.var.principal.tenant);
  if (!run) throw runNotFound(runId);
  return c.json(run, 200);
});

const listEvents = createRoute({
  method: "get",
  operationId: "listRunEvents",
  path: "/runs/{run_id}/events",
  tags,
  summary: "The run's event log, in order",
  security,
  request: { params: runIdParamsSchema, query: listEventsQuerySchema },
  responses: { 200: jsonResponse(eventPageSchema, "A page of events"), ...errors(400, 404), ...ACCESS.apiKey.responses },
});

runsApi.openapi(listEvents, async (c) => {
  const { run_id: runId } = c.req.valid("param");
  const q = c.req.valid("query");
  const page = await runStub(c.env, runId).listEvents(c.var.principal.tenant, q.after, q.limit);
  if (!page) throw runNotFound(runId);
  const last = page.events.at(-1)?.seq ?? q.after;
  return c.json({ run_id: runId, events: page.events as ApiEvent[], next_after: last, has_more: last < page.last_seq }, 200);
});

// What the run has cost in billable operations so far (see RunUsage); the benchmark prices these.
const getUsage = createRoute({
  method: "get",
  operationId: "getRunUsage",
  path: "/runs/{run_id}/usage",
  tags,
  summary: "Billable operations the run has made",
  security,
  request: { params: runIdParamsSchema },
  responses: { 200: jsonResponse(usageSchema, "Counters"), ...errors(404), ...ACCESS.apiKey.responses },
});

runsApi.openapi(getUsage, async (c) => {
  const { run_id: runId } = c.req.valid("param");
  const usage = await runStub(c.env, runId).getUsage(c.var.principal.tenant);
  if (!usage) throw runNotFound(runId);
  return c.json({ run_id: runId, ...usage }, 200);
});

/** Cancel and resume: 404 for a missing run, 409 when the run is not in a state that allows it. */
function controlAnswer(c: Context<AppEnv>, runId: string, result: ControlAnswer) {
  if (result.ok) return result.run;
  if (result.code === "run_not_found") throw runNotFound(runId);
  if (result.code === "at_capacity") {
    countRateLimited(c, c.var.principal.tenant, "runs_in_flight");
    throw atCapacity(result);
  }
  throw new ApiError(409, result.code, result.message);
}

const cancelRun = createRoute({
  method: "post",
  operationId: "cancelRun",
  path: "/runs/{run_id}/cancel",
  tags,
  summary: "Cancel a run that has not ended",
  description:
    "Plainly, at once: every step not ended is skipped. With `compensate: true`, steps in flight finish, then each succeeded step with a compensation is undone (newest first) before the run ends cancelled.",
  middleware: optionalJsonBody,
  security,
  request: { params: runIdParamsSchema, body: { ...jsonRequest(cancelRunBodySchema, "Optional: whether to compensate"), required: false } },
  responses: { 200: jsonResponse(runSchema, "The cancelled (or cancelling) run"), ...errors(400, 404, 409, 413, 415), ...ACCESS.apiKey.responses },
});

runsApi.openapi(cancelRun, async (c) => {
  const { run_id: runId } = c.req.valid("param");
  const body = (c.req.valid("json") as CancelRunBody | undefined) ?? {};
  const result = await runStub(c.env, runId).cancel(c.var.principal.tenant, body);
  return c.json(controlAnswer(c, runId, result), 200);
});

const pauseRun = createRoute({
  method: "post",
  operationId: "pauseRun",
  path: "/runs/{run_id}/pause",
  tags,
  summary: "Pause a run: nothing new is dispatched until it is resumed",
  description:
    "Steps in flight finish and their results are recorded; timers, retries and approvals keep their deadlines and act after the resume. A paused run keeps its slot under the tenant's cap. Pausing a paused run changes nothing; a run that has ended (or is compensating) answers 409.",
  security,
  request: { params: runIdParamsSchema },
  responses: { 200: jsonResponse(runSchema, "The paused run"), ...errors(404, 409), ...ACCESS.apiKey.responses },
});

runsApi.openapi(pauseRun, async (c) => {
  const { run_id: runId } = c.req.valid("param");
  return c.json(controlAnswer(c, runId, await runStub(c.env, runId).pause(c.var.principal.tenant)), 200);
});

const resumeRun = createRoute({
  method: "post",
  operationId: "resumeRun",
  path: "/runs/{run_id}/resume",
  tags,
  summary:
    "Continue a paused run; or re-run a failed or cancelled run's failed and skipped steps, and those compensation undid (it takes a slot under the tenant's cap again)",
  security,
  request: { params: runIdParamsSchema },
  responses: { 200: jsonResponse(runSchema, "The resumed run"), ...errors(404, 409), ...ACCESS.apiKey.responses },
});

runsApi.openapi(resumeRun, async (c) => {
  const { run_id: runId } = c.req.valid("param");
  const result = await runStub(c.env, runId).resume(c.var.principal.tenant, runCap(c.env));
  return c.json(controlAnswer(c, runId, result), 200);
});

type CancelRunBody = z.infer<typeof cancelRunBodySchema>;
