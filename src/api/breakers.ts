import { createRoute } from "@hono/zod-openapi";
import { breakerName, type BreakerStatus } from "../durable/breaker/tool-breaker";
import { listServers } from "../tools/mcp/mcp-server-store";
import { mcpBreakerName } from "../tools/mcp/mcp-types";
import { tools } from "../tools/registry";
import { ApiError } from "./errors";
import { ACCESS, createApi, errors, jsonResponse } from "./openapi";
import { breakerListSchema, breakerSchema } from "./response-schemas";
import { toolParamsSchema } from "./schemas";

/** /breakers: every circuit breaker of the caller's tenant (its queue tools' and its MCP servers'), and a manual reset. */
export const breakersApi = createApi();

const tags = ["Breakers"];

// Wait.sleep is a timer kept by the run object, with no dependency to protect.
export const guardedTools = () => [...tools.values()].filter((t) => t.executor === "queue").map((t) => t.name);

/**
 * Every breaker the tenant has: one per built-in queue tool, and one per registered MCP server
 * (`mcp.<server>`, shared by its tools). The servers come from the per-isolate cached store, so
 * listing costs a D1 read only when that cache is cold.
 */
export async function tenantBreakers(env: Env, tenant: string): Promise<string[]> {
  const servers = await listServers(env, tenant);
  return [...guardedTools(), ...servers.map((s) => mcpBreakerName(s.name))];
}

const listBreakers = createRoute({
  method: "get",
  operationId: "listBreakers",
  path: "/breakers",
  tags,
  summary: "The caller's tenant's circuit breakers: every queue tool's, and each MCP server's (mcp.<server>)",
  security: ACCESS.apiKey.security,
  responses: { 200: jsonResponse(breakerListSchema, "Breakers"), ...ACCESS.apiKey.responses },
});

breakersApi.openapi(listBreakers, async (c) => {
  const { tenant } = c.var.principal;
  const names = await tenantBreakers(c.env, tenant);
  const breakers = await Promise.all(names.map((tool) => c.env.BREAKERS.getByName(breakerName(tenant, tool)).status(tool) as Promise<BreakerStatus>));
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
  const names = await tenantBreakers(c.env, c.var.principal.tenant);
  if (!names.includes(tool)) throw new ApiError(404, "breaker_not_found", `No breaker is named "${tool}". Breakers: ${names.join(", ")}.`, { breakers: names });
  return c.json((await c.env.BREAKERS.getByName(breakerName(c.var.principal.tenant, tool)).reset(tool)) as BreakerStatus, 200);
});
