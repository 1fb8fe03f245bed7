import { createRoute, z } from "@hono/zod-openapi";
import { llmBudgetFor, utcDay } from "../durable/llm-budget/llm-budget";
import { jsonBody } from "./middleware/json-body";
import { ACCESS, createApi, errors, jsonRequest, jsonResponse } from "./openapi";
import { isoTime } from "./response-schemas";
import { tenantSchema } from "./schemas";

/**
 * /admin/tenants/{tenant}/llm-budget: the tenant's daily LLM spend cap (ADMIN_TOKEN, checked where
 * app.ts mounts this). The cap is held by the tenant's LlmBudget object, which every agent step's
 * model call reserves against before it is made; a new cap holds for the next reservation.
 */
export const adminLlmBudgetApi = createApi();

const tags = ["Admin"];
const { security } = ACCESS.admin;

const tenantParamsSchema = z.strictObject({ tenant: tenantSchema.openapi({ param: { name: "tenant", in: "path" } }) });

/** Above any real day's spend, and within what the object counts exactly (integer nano-dollars). */
export const MAX_USD_PER_DAY = 1_000_000;

const llmBudgetBodySchema = z
  .strictObject({
    usd_per_day: z.number().nonnegative().max(MAX_USD_PER_DAY).describe("USD the tenant's model calls may cost per UTC day; 0 stops them"),
  })
  .openapi("SetLlmBudget");

const llmBudgetSchema = z
  .object({
    tenant: z.string(),
    usd_per_day: z.number().nullable().describe("The cap; null when none is set"),
    day: z.string().describe("Today (UTC), YYYY-MM-DD"),
    committed_usd: z.number().describe("Today's settled cost plus the reservations of calls still in flight"),
    updated_at: isoTime.optional().describe("When the cap was set"),
  })
  .openapi("LlmBudget");

const path = "/tenants/{tenant}/llm-budget";

const getLlmBudget = createRoute({
  method: "get",
  operationId: "getTenantLlmBudget",
  path,
  tags,
  summary: "A tenant's daily LLM spend cap, and today's spend",
  security,
  request: { params: tenantParamsSchema },
  responses: { 200: jsonResponse(llmBudgetSchema, "The cap and today's spend"), ...errors(400), ...ACCESS.admin.responses },
});

adminLlmBudgetApi.openapi(getLlmBudget, async (c) => {
  const { tenant } = c.req.valid("param");
  const status = await llmBudgetFor(c.env, tenant).status(utcDay(Date.now()));
  return c.json({ tenant, usd_per_day: status.cap_usd, day: status.day, committed_usd: status.committed_usd }, 200);
});

const setLlmBudget = createRoute({
  method: "put",
  operationId: "setTenantLlmBudget",
  path,
  tags,
  summary: "Set a tenant's daily LLM spend cap",
  middleware: jsonBody,
  security,
  request: { params: tenantParamsSchema, body: jsonRequest(llmBudgetBodySchema, "The cap in USD per UTC day") },
  responses: { 200: jsonResponse(llmBudgetSchema, "The cap and today's spend"), ...errors(400, 413, 415), ...ACCESS.admin.responses },
});

adminLlmBudgetApi.openapi(setLlmBudget, async (c) => {
  const { tenant } = c.req.valid("param");
  const { usd_per_day } = c.req.valid("json");
  const budget = llmBudgetFor(c.env, tenant);
  const set = await budget.setCap(usd_per_day);
  const status = await budget.status(utcDay(Date.now()));
  return c.json({ tenant, usd_per_day: set.cap_usd, day: status.day, committed_usd: status.committed_usd, updated_at: set.updated_at }, 200);
});
