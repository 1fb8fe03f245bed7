import { createRoute, z } from "@hono/zod-openapi";
import { ApiError } from "./errors";
import { jsonBody } from "./middleware/json-body";
import { ACCESS, createApi, errors, jsonRequest, jsonResponse } from "./openapi";
import { isoTime, stepSchema } from "./response-schemas";
import { runNotFound, runStub } from "./run-lookup";
import { runIdParamsSchema } from "./schemas";

/** POST /runs/{id}/steps/{step}/decision: a person approves or rejects a waiting Human.approve step. */
export const decisionsApi = createApi();

export const stepParamsSchema = runIdParamsSchema.extend({
  step: z.string().openapi({ description: "A step_number of the run's plan; any other value is not found", example: "2" }),
});

export const decisionBodySchema = z
  .strictObject({
    decision: z.enum(["approve", "reject"]),
    comment: z.string().max(2000).optional().describe("Why; kept in the step's output and the run's log"),
    call: z
      .number()
      .int()
      .positive()
      .optional()
      .describe("An Agent.run step: the number of its waiting tool call this decides (approve runs it; reject gives the model the comment)"),
  })
  .openapi("DecisionRequest");

const stepNotFound = (runId: string, step: string) => new ApiError(404, "step_not_found", `Run "${runId}" has no step ${step}.`, { run_id: runId, step });

const decide = createRoute({
  method: "post",
  operationId: "decideStep",
  path: "/runs/{run_id}/steps/{step}/decision",
  tags: ["Runs"],
  summary: "Approve or reject a waiting approval step, or an agent's waiting tool call",
  description:
    'Approve: the step succeeds and its dependants run. Reject: the step fails (not retryable) and the run fails. For an Agent.run step, `call` names the waiting tool call: approve runs it, reject gives the model "rejected by a person: COMMENT" as its result. Counts once: a second decision, a step or call that is not waiting, or a decision after the timeout answers 409.',
  middleware: jsonBody,
  security: ACCESS.apiKey.security,
  request: { params: stepParamsSchema, body: jsonRequest(decisionBodySchema, "The decision") },
  responses: { 200: jsonResponse(stepSchema, "The step, decided"), ...errors(400, 404, 409, 413, 415), ...ACCESS.apiKey.responses },
});

decisionsApi.openapi(decide, async (c) => {
  const { run_id: runId, step } = c.req.valid("param");
  const body = c.req.valid("json");
  // Step numbers are small positive integers; anything else is a step no plan has.
  if (!/^[1-9]\d{0,5}$/.test(step)) throw stepNotFound(runId, step);
  const { tenant, key_id } = c.var.principal;
  const result = await runStub(c.env, runId).decide(tenant, Number(step), {
    decision: body.decision,
    comment: body.comment ?? null,
    by: key_id,
    ...(body.call !== undefined ? { call: body.call } : {}),
  });
  if (result.ok) return c.json(result.step, 200);
  if (result.code === "run_not_found") throw runNotFound(runId);
  if (result.code === "step_not_found") throw stepNotFound(runId, step);
  throw new ApiError(409, result.code, result.message);
});

export const decisionLinksSchema = z
  .object({
    approve_url: z.string().openapi({ format: "uri", description: "Opens a page that approves the step (one use; no API key)" }),
    reject_url: z.string().openapi({ format: "uri", description: "Opens a page that rejects the step (one use; no API key)" }),
    expires_at: isoTime.describe("The step's timeout: the links open nothing after it"),
  })
  .openapi("DecisionLinks");

/** Where a link's page is served (src/api/decision-pages.ts), outside the API-key group. */
export const decisionPagePath = (runId: string, token: string) => `/decide/${runId}/${token}`;

const issueLinks = createRoute({
  method: "post",
  operationId: "createDecisionLinks",
  path: "/runs/{run_id}/steps/{step}/decision-link",
  tags: ["Runs"],
  summary: "Single-use links that approve or reject a waiting approval step without an API key",
  description:
    'For a message or an email: each URL opens a confirmation page whose button records the decision (`decided_by: "link"`). The links are valid until the step\'s timeout and count once: after either is used, both are refused. The step must be waiting (409 otherwise).',
  security: ACCESS.apiKey.security,
  request: { params: stepParamsSchema },
  responses: { 201: jsonResponse(decisionLinksSchema, "The pair of links"), ...errors(404, 409), ...ACCESS.apiKey.responses },
});

decisionsApi.openapi(issueLinks, async (c) => {
  const { run_id: runId, step } = c.req.valid("param");
  if (!/^[1-9]\d{0,5}$/.test(step)) throw stepNotFound(runId, step);
  const issued = await runStub(c.env, runId).issueDecisionLinks(c.var.principal.tenant, Number(step));
  if (!issued.ok) {
    if (issued.code === "run_not_found") throw runNotFound(runId);
    if (issued.code === "step_not_found") throw stepNotFound(runId, step);
    throw new ApiError(409, issued.code, issued.message);
  }
  const origin = new URL(c.req.url).origin;
  c.header("cache-control", "no-store");
  return c.json(
    {
      approve_url: origin + decisionPagePath(runId, issued.approve),
      reject_url: origin + decisionPagePath(runId, issued.reject),
      expires_at: issued.expires_at,
    },
    201,
  );
});
