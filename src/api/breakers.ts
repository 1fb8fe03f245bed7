import { createRoute } from "@hono/zod-openapi";
import { breakerName, type BreakerStatus } from "../durable/breaker/tool-breaker";
import { tools } from "../tools/registry";
import { ApiError } from "./errors";
import { ACCESS, createApi, errors, jsonResponse } from "./openapi";
import { breakerListSchema, breakerSchema } from "./response-schemas";
import { toolParamsSchema } from "./schemas";

/** /breakers: the caller's tenant's circuit breaker for every queue tool, and a manual reset. */
export const breakersApi = createApi();

const tags = ["Breakers"];

// Wait.sleep is a timer kept by the run object, with no dependency to protect.
export const guardedTools = () => [...tools.values()].filter((t) => t.executor === "queue").map((t) => t.name);

const listBreakers = createRoute({
  method: "get",
  operationId: "listBreakers",
  path: "/breakers",
  tags,
  summary: "The caller's tenant's circuit breaker for every queue tool",
  security: ACCESS.apiKey.security,
  responses: { 200: jsonResponse(breakerListSchema, "Breakers"), ...ACCESS.apiKey.responses },
});

breakersApi.openapi(listBreakers, async (c) => {
  const { tenant } = c.var.principal;
  const breakers = await Promise.all(guardedTools().map((tool) => c.env.BREAKERS.getByName(breakerName(tenant, tool)).status(tool) as Promise<BreakerStatus>));
  return c.json({ enabled: c.env.BREAKER_ENABLED !== "false", breakers }, 200);
});

const resetBreaker = createRoute({
  method: "post",
  operationId: "resetBreaker",
  path: "/breakers/{tool}/reset",
  tags,
  summary: "Close one of the caller's tenant's breakers by hand",
  security: ACCESS.apiKey.security,
  request: { params: toolParamsSchema },
  responses: { 200: jsonResponse(breakerSchema, "The breaker, closed"), ...errors(404), ...ACCESS.apiKey.responses },
});

breakersApi.openapi(resetBreaker, async (c) => {
  const { tool } = c.req.valid("param");
  if (!guardedTools().includes(tool))
    throw new ApiError(404, "breaker_not_found", `No tool named "${tool}" has a breaker. Tools: ${guardedTools().join(", ")}.`);
  return c.json((await c.env.BREAKERS.getByName(breakerName(c.var.principal.tenant, tool)).reset(tool)) as BreakerStatus, 200);
});
