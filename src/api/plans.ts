import { createRoute } from "@hono/zod-openapi";
import { makePlan } from "../planner/make-plan";
import { ApiError } from "./errors";
import { jsonBody } from "./middleware/json-body";
import { ACCESS, createApi, errors, jsonRequest, jsonResponse } from "./openapi";
import { planResponseSchema } from "./response-schemas";
import { planBodySchema } from "./schemas";

/** POST /plans: the plan a prompt would run, without running it. */
export const plansApi = createApi();

const previewPlan = createRoute({
  method: "post",
  operationId: "previewPlan",
  path: "/plans",
  tags: ["Plans"],
  summary: "The plan a prompt would run, without running it",
  middleware: jsonBody,
  security: ACCESS.apiKey.security,
  request: { body: jsonRequest(planBodySchema, "The prompt to plan") },
  responses: { 200: jsonResponse(planResponseSchema, "The plan"), ...errors(400, 413, 415), ...ACCESS.apiKey.responses },
});

plansApi.openapi(previewPlan, async (c) => {
  const { prompt } = c.req.valid("json");
  const planned = await makePlan({ prompt }, c.env, c.var.principal.tenant);
  if (!planned.ok) throw new ApiError(400, planned.code, planned.message, planned.details);
  return c.json(planned.plan, 200);
});
