import { createRoute, z } from "@hono/zod-openapi";
import { startRerun } from "../durable/run/rerun";
import { traceIdFrom } from "../lib/trace";
import { planInputSchema } from "../execution/plan-schema";
import { ApiError } from "./errors";
import { jsonBody } from "./middleware/json-body";
import { ACCESS, createApi, errors, jsonRequest, jsonResponse, LOCATION } from "./openapi";
import { runSchema } from "./response-schemas";
import { runNotFound, runStub } from "./run-lookup";
import { startRefusal } from "./runs";
import { createRunHeadersSchema, runIdParamsSchema } from "./schemas";

/** POST /runs/{id}/rerun: a new run forked from an ended one at a step. */
export const rerunApi = createApi();

export const rerunBodySchema = z
  .strictObject({
    from_step: z.number().int().min(1).describe("The step to run again; it and every step that depends on it (directly or not) run again"),
    input: z
      .record(z.string(), z.unknown())
      .optional()
      .describe("Fields that replace those of the step's input (the rest stay as planned); checked against the tool's schema"),
    plan: planInputSchema
      .optional()
      .describe(
        "A plan to run instead of the original's: its steps that match the original's (number, tool, input, dependencies) and are not downstream are reused",
      ),
  })
  .openapi("RerunRequest");

const rerunRoute = createRoute({
  method: "post",
  operationId: "rerunRun",
  path: "/runs/{run_id}/rerun",
  tags: ["Runs"],
  summary: "Rerun an ended run from a step, as a new run",
  description:
    "Steps that do not depend on `from_step` (directly or through others) and succeeded keep their recorded outputs and are not executed again; `from_step` and everything downstream of it run again, with `input`'s changes. The new run has `rerun_of` set; the original is not touched. Idempotency-Key works as on POST /runs.",
  middleware: jsonBody,
  security: ACCESS.apiKey.security,
  request: {
    params: runIdParamsSchema,
    headers: createRunHeadersSchema,
    body: jsonRequest(rerunBodySchema, "The step to rerun from, and changes to its input"),
  },
  responses: {
    201: { ...jsonResponse(runSchema, "The new run"), headers: LOCATION },
    200: { ...jsonResponse(runSchema, "A replay of the Idempotency-Key: the run it created"), headers: LOCATION },
    ...errors(400, 404, 409, 413, 415),
    ...ACCESS.apiKey.responses,
  },
});

rerunApi.openapi(rerunRoute, async (c) => {
  const { run_id: runId } = c.req.valid("param");
  const { "idempotency-key": key, traceparent } = c.req.valid("header");
  const trace_id = traceIdFrom(traceparent);
  runStub(c.env, runId); // a malformed id is a 404 before anything is asked
  const result = await startRerun(c.env, {
    tenant: c.var.principal.tenant,
    run_id: runId,
    request: c.req.valid("json"),
    ...(key ? { idempotency_key: key } : {}),
    ...(trace_id ? { trace_id } : {}),
    ...(c.var.principal.retention_days ? { retention_days: c.var.principal.retention_days } : {}),
  });
  if (!result.ok) {
    switch (result.code) {
      case "run_not_found":
        throw runNotFound(runId);
      case "run_not_ended":
        throw new ApiError(409, result.code, result.message);
      case "invalid_from_step":
      case "nothing_to_rerun":
        throw new ApiError(400, result.code, result.message);
      default:
        throw startRefusal(result);
    }
  }
  c.header("Location", `/api/v1/runs/${result.run.run_id}`);
  return c.json(result.run, result.outcome === "created" ? 201 : 200);
});
