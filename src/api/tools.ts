import { createRoute } from "@hono/zod-openapi";
import { describeTools } from "../tools/registry";
import { ACCESS, createApi, jsonResponse } from "./openapi";
import { toolListSchema } from "./response-schemas";

/** GET /tools: the catalogue, with JSON Schemas generated from the tools' zod schemas. */
export const toolsApi = createApi();

const catalogue = describeTools();

const listTools = createRoute({
  method: "get",
  path: "/tools",
  tags: ["Tools"],
  summary: "Every tool with its input JSON Schema",
  security: ACCESS.apiKey.security,
  responses: { 200: jsonResponse(toolListSchema, "The catalogue"), ...ACCESS.apiKey.responses },
});

toolsApi.openapi(listTools, (c) => c.json({ tools: catalogue as { name: string; description: string; input_schema: Record<string, unknown> }[] }, 200));
