import { and, desc, eq, gt, lt, or, type SQL } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { Hono } from "hono";
import type { AppEnv } from "./app-env";
import { acquireRunSlot } from "./run-slots";
import { runs as runsTable } from "../db/schema";
import { canonicalJson, sha256Hex } from "../lib/hash";
import { newTraceId, traceIdFrom } from "../lib/trace";
import type { CreateRunResult } from "../durable/run-object";
import type { RunEvent } from "../durable/run-events";
import type { ControlResult } from "../durable/run-machine";
import type { RunResource } from "../durable/run-view";
import { makePlan } from "../planner/make-plan";
import { ApiError } from "./errors";
import { existingRun, runNotFound, runStub } from "./run-lookup";
import { createRunBodySchema, listEventsQuerySchema, listRunsQuerySchema } from "./schemas";
import { jsonBody, query } from "./validate";

/** /runs: create, read, list, events, cancel, resume. Live state comes from the run object, history from D1. */
export const runsApi = new Hono<AppEnv>();

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;
const newId = () => crypto.randomUUID().replaceAll("-", "");


runsApi.post("/runs", async (c) => {
  const body = await jsonBody(c, createRunBodySchema);
  const key = c.req.header("idempotency-key");
  if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) {
    throw new ApiError(400, "invalid_idempotency_key", "Idempotency-Key must be 1-255 visible ASCII characters.");
  }
  const { tenant } = c.var.principal;
  // With an Idempotency-Key the run id is derived from it (and the tenant, so two tenants' keys
  // never meet), and the run object itself (strongly consistent, kept for good) tells a replay
  // from a conflicting reuse of the key.
  const runId = key ? `run_${(await sha256Hex(`idempotency:${tenant}:${key}`)).slice(0, 32)}` : `run_${newId()}`;

  // Planning and taking the tenant's slot are independent: do them at the same time, and give
  // the slot back if planning fails.
  const [planning, taking] = await Promise.allSettled([
    makePlan(body.plan ? { plan: body.plan } : { prompt: body.prompt ?? "" }, c.env),
    acquireRunSlot(c.env, tenant, runId).catch(async (err: unknown) => {
      // At the cap, a replay of a run that already exists still gets its answer (200 or 409):
      // it starts nothing, so it needs no slot.
      if (key && err instanceof ApiError && err.status === 429 && (await c.env.RUNS.getByName(runId).status()) !== null) return { held: true, release: async () => {} };
      throw err;
    }),
  ]);
  const planned = planning.status === "fulfilled" && planning.value.ok ? planning.value : undefined;
  if (taking.status === "fulfilled" && !planned && !taking.value.held) await taking.value.release();
  if (planning.status === "rejected") throw planning.reason;
  if (!planning.value.ok) throw new ApiError(400, planning.value.code, planning.value.message, planning.value.details);
  if (taking.status === "rejected") throw taking.reason;
  const slot = taking.value;

  let result: CreateRunResult;
  try {
    result = (await c.env.RUNS.getByName(runId).create({
      run_id: runId,
      tenant,
      prompt: body.prompt ?? null,
      plan: planning.value.plan,
      options: body.options ?? {},
      request_hash: await sha256Hex(canonicalJson(body)),
      // Honour the caller's trace (W3C traceparent) or start one.
      trace_id: traceIdFrom(c.req.header("traceparent")) ?? newTraceId(),
    })) as CreateRunResult;
  } catch (err) {
    if (!slot.held) await slot.release();
    throw err;
  }
  // A replay of a run that already ended, or a conflict, must not keep the slot it just took.
  if (result.outcome !== "created" && !slot.held && (result.outcome === "conflict" || ["completed", "failed", "cancelled"].includes(result.run.status))) await slot.release();
  if (result.outcome === "conflict") {
    throw new ApiError(409, "idempotency_conflict", "This Idempotency-Key was already used with a different request body.", { run_id: result.run_id });
  }
  c.header("Location", `/api/v1/runs/${runId}`);
  return c.json(result.run, result.outcome === "created" ? 201 : 200);
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
  const stub = await existingRun(c.env, runId, c.var.principal);
  return c.json({ run_id: runId, ...(await stub.getUsage()) });
});

/** Cancel and resume: 404 for a missing run, 409 when the run is not in a state that allows it. */
for (const action of ["cancel", "resume"] as const) {
  runsApi.post(`/runs/:run_id/${action}`, async (c) => {
    const runId = c.req.param("run_id");
    const stub = await existingRun(c.env, runId, c.var.principal);
    // A resumed run is in flight again, so it needs a slot under the tenant's cap.
    const slot = action === "resume" ? await acquireRunSlot(c.env, c.var.principal.tenant, runId) : undefined;
    const result = (await (action === "cancel" ? stub.cancel() : stub.resume())) as ControlResult & { run: RunResource };
    if (!result.ok) {
      if (slot && !slot.held) await slot.release();
      throw new ApiError(409, result.code, result.message);
    }
    return c.json(result.run);
  });
}
