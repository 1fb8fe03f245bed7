import { createRoute } from "@hono/zod-openapi";
import { mcpCatalogue } from "../tools/mcp/mcp-catalogue";
import { describeCatalogue } from "../tools/registry";
import { ACCESS, createApi, jsonResponse } from "./openapi";
import { toolListSchema } from "./response-schemas";

/**
 * GET /tools: the tenant's catalogue: the built-in tools, with JSON Schemas generated from their zod
 * schemas, then its MCP servers' tools as `mcp.<server>.<tool>` with the servers' own schemas.
 */
export const toolsApi = createApi();

const listTools = createRoute({
  method: "get",
  operationId: "listTools",
  path: "/tools",
  tags: ["Tools"],
  summary: "Every tool the tenant's plans may use, with its input JSON Schema",
  security: ACCESS.apiKey.security,
  responses: { 200: jsonResponse(toolListSchema, "The catalogue"), ...ACCESS.apiKey.responses },
});

toolsApi.openapi(listTools, async (c) => {
  const catalogue = describeCatalogue(await mcpCatalogue(c.env, c.var.principal.tenant));
  return c.json({ tools: catalogue as { name: string; description: string; input_schema: Record<string, unknown> }[] }, 200);
});
