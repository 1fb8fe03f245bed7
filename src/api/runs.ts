import { and, desc, eq, gt, lt, or, type SQL } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { Hono } from "hono";
import type { AppEnv } from "./app-env";
import { runs as runsTable } from "../db/schema";
import { canonicalJson, sha256Hex } from "../lib/hash";
import { newTraceId, traceIdFrom } from "../lib/trace";
import type { ControlAnswer, CreateRunResult } from "../durable/run/run-object";
import type { RunEvent } from "../durable/run/run-events";
import { TERMINAL_STATUSES } from "../durable/run/run-view";
import { makePlan } from "../planner/make-plan";
import { ApiError } from "./errors";
import { runNotFound, runStub } from "./run-lookup";
import { createRunBodySchema, createRunQuerySchema, listEventsQuerySchema, listRunsQuerySchema } from "./schemas";
import { jsonBody, query } from "./validate";

/** /runs: create, read, list, events, cancel, resume. Live state comes from the run object, history from D1. */
export const runsApi = new Hono<AppEnv>();

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;
const newId = () => crypto.randomUUID().replaceAll("-", "");


const RETRY_AFTER_S = 5;
const DEFAULT_CAP = 100;

/** The per-tenant cap on runs in flight (MAX_RUNS_IN_FLIGHT); the run object enforces it through the tenant's limiter. */
function runCap(env: Env): number {
  const n = Number(env.MAX_RUNS_IN_FLIGHT);
  return Number.isInteger(n) && n > 0 ? n : DEFAULT_CAP;
}

const atCapacity = (r: { in_flight: number; cap: number }) =>
  new ApiError(
    429,
    "too_many_runs_in_flight",
    `This tenant has ${r.in_flight} runs in flight, its limit; start more when some have ended.`,
    { in_flight: r.in_flight, limit: r.cap, retry_after_s: RETRY_AFTER_S },
    { "retry-after": String(RETRY_AFTER_S) },
  );

/**
 * POST /runs[?wait=N]: one request to the new run's object, which takes the tenant's slot only if
 * the run will stay in flight and answers as soon as the run is durable (the D1 read model
 * follows). With an Idempotency-Key the object is asked first whether this is a replay, so a
 * replay is never planned again. With `wait`, the answer comes once the run has ended (201, or
 * 200 for a replay) or after N seconds with the run as it stands (202).
 */
runsApi.post("/runs", async (c) => {
  const body = await jsonBody(c, createRunBodySchema);
  const { wait } = query(c, createRunQuerySchema);
  const key = c.req.header("idempotency-key");
  if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) {
    throw new ApiError(400, "invalid_idempotency_key", "Idempotency-Key must be 1-255 visible ASCII characters.");
  }
  const { tenant } = c.var.principal;
  // With an Idempotency-Key the run id is derived from it (and the tenant, so two tenants' keys
  // never meet), and the run object itself (strongly consistent, kept for good) tells a replay
  // from a conflicting reuse of the key.
  const runId = key ? `run_${(await sha256Hex(`idempotency:${tenant}:${key}`)).slice(0, 32)}` : `run_${newId()}`;
  const stub = c.env.RUNS.getByName(runId);
  const input = {
    run_id: runId,
    tenant,
    prompt: body.prompt ?? null,
    options: body.options ?? {},
    request_hash: await sha256Hex(canonicalJson(body)),
    // Honour the caller's trace (W3C traceparent) or start one.
    trace_id: traceIdFrom(c.req.header("traceparent")) ?? newTraceId(),
    cap: runCap(c.env),
    ...(wait ? { wait_ms: Math.round(wait * 1000) } : {}),
  };
  // RPC stub types flatten the run's `unknown` payloads; the object's own signature is the truth.
  let result = key ? ((await stub.create(input)) as CreateRunResult) : undefined;
  if (!result || result.outcome === "needs_plan") {
    const planned = await makePlan(body.plan ? { plan: body.plan } : { prompt: body.prompt ?? "" }, c.env);
    if (!planned.ok) throw new ApiError(400, planned.code, planned.message, planned.details);
    result = (await stub.create({ ...input, plan: planned.plan })) as CreateRunResult;
  }
  switch (result.outcome) {
    case "conflict":
      throw new ApiError(409, "idempotency_conflict", "This Idempotency-Key was already used with a different request body.", { run_id: result.run_id });
    case "at_capacity":
      throw atCapacity(result);
    case "needs_plan":
      throw new Error("the run object asked for a plan it was given");
    default: {
      c.header("Location", `/api/v1/runs/${runId}`);
      const ended = TERMINAL_STATUSES.has(result.run.status);
      return c.json(result.run, wait && !ended ? 202 : result.outcome === "created" ? 201 : 200);
    }
  }
});

interface Cursor {
  created_at: string;
  run_id: string;
}

const encodeCursor = (c: Cursor) => btoa(JSON.stringify([c.created_at, c.run_id])).replaceAll("=", "");

function decodeCursor(raw: string): Cursor {
  try {
    const [created_at, run_id] = JSON.parse(atob(raw)) as unknown[];
    if (typeof created_at === "string" && typeof run_id === "string") return { created_at, run_id };
  } catch {
    // fall through to the 400 below
  }
  throw new ApiError(400, "invalid_cursor", "The cursor is not one this API returned.");
}

runsApi.get("/runs", async (c) => {
  const q = query(c, listRunsQuerySchema);
  const where: (SQL | undefined)[] = [eq(runsTable.tenant, c.var.principal.tenant)];
  if (q.status) where.push(eq(runsTable.status, q.status));
  if (q.created_after) where.push(gt(runsTable.created_at, q.created_after));
  if (q.created_before) where.push(lt(runsTable.created_at, q.created_before));
  if (q.cursor) {
    const cur = decodeCursor(q.cursor);
    // Keyset pagination on (created_at, run_id): stable while new runs arrive.
    where.push(or(lt(runsTable.created_at, cur.created_at), and(eq(runsTable.created_at, cur.created_at), lt(runsTable.run_id, cur.run_id))));
  }
  const rows = await drizzle(c.env.DB)
    .select()
    .from(runsTable)
    .where(and(...where))
    .orderBy(desc(runsTable.created_at), desc(runsTable.run_id))
    .limit(q.limit + 1)
    .all();
  const page = rows.slice(0, q.limit);
  const last = page.at(-1);
  return c.json({
    runs: page.map((r) => ({
      run_id: r.run_id,
      prompt: r.prompt,
      status: r.status,
      planner: r.planner,
      step_count: r.step_count,
      result: r.result === null ? null : (JSON.parse(r.result) as unknown),
      error: r.error_code ? { code: r.error_code, message: r.error_message ?? "" } : null,
      created_at: r.created_at,
      started_at: r.started_at,
      completed_at: r.completed_at,
    })),
    next_cursor: rows.length > q.limit && last ? encodeCursor(last) : null,
  });
});

runsApi.get("/runs/:run_id", async (c) => {
  const runId = c.req.param("run_id");
  const run = await runStub(c.env, runId).getRun(c.var.principal.tenant);
  if (!run) throw runNotFound(runId);
  return c.json(run);
});

runsApi.get("/runs/:run_id/events", async (c) => {
  const runId = c.req.param("run_id");
  const q = query(c, listEventsQuerySchema);
  // RPC stub types flatten unions and `unknown` payloads; the object's own signature is the truth.
  const page = (await runStub(c.env, runId).listEvents(c.var.principal.tenant, q.after, q.limit)) as { events: RunEvent[]; last_seq: number } | null;
  if (!page) throw runNotFound(runId);
  const last = page.events.at(-1)?.seq ?? q.after;
  return c.json({ run_id: runId, events: page.events, next_after: last, has_more: last < page.last_seq });
});

// What the run has cost in billable operations so far (see RunUsage); the benchmark prices these.
runsApi.get("/runs/:run_id/usage", async (c) => {
  const runId = c.req.param("run_id");
  const usage = await runStub(c.env, runId).getUsage(c.var.principal.tenant);
  if (!usage) throw runNotFound(runId);
  return c.json({ run_id: runId, ...usage });
});

/** Cancel and resume: 404 for a missing run, 409 when the run is not in a state that allows it. */
for (const action of ["cancel", "resume"] as const) {
  runsApi.post(`/runs/:run_id/${action}`, async (c) => {
    const runId = c.req.param("run_id");
    const stub = runStub(c.env, runId);
    const { tenant } = c.var.principal;
    const result = (action === "cancel" ? await stub.cancel(tenant) : await stub.resume(tenant, runCap(c.env))) as ControlAnswer;
    if (result.ok) return c.json(result.run);
    if (result.code === "run_not_found") throw runNotFound(runId);
    if (result.code === "at_capacity") throw atCapacity(result);
    throw new ApiError(409, result.code, result.message);
  });
}
