import { createRoute, z } from "@hono/zod-openapi";
import { HeaderKeyError } from "../tools/mcp/header-crypto";
import { listServers, findServer, deleteServer } from "../tools/mcp/mcp-server-store";
import { refreshServer, registerServer, serverView, type McpOutcome } from "../tools/mcp/mcp-registration";
import { MCP_SERVER_NAME } from "../tools/mcp/mcp-types";
import { ApiError } from "./errors";
import { jsonBody } from "./middleware/json-body";
import { ACCESS, createApi, errors, jsonRequest, jsonResponse } from "./openapi";

/** /mcp-servers: a tenant's MCP servers, whose tools join its catalogue as `mcp.<server>.<tool>`. */
export const mcpServersApi = createApi();

const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$/;

export const registerMcpServerSchema = z
  .strictObject({
    name: z.string().regex(MCP_SERVER_NAME, "Use 1 to 32 of a-z, 0-9 and -.").openapi({ example: "docs" }),
    url: z
      .string()
      .max(2048)
      .refine((u) => URL.canParse(u) && /^https?:$/.test(new URL(u).protocol), { message: "Give an absolute http:// or https:// URL." })
      .openapi({ example: "https://mcp.example.com/mcp", description: "The server's MCP endpoint (Streamable HTTP, or HTTP+SSE)" }),
    headers: z
      .record(z.string().regex(HEADER_NAME, "Not an HTTP header name."), z.string().max(8192))
      .refine((h) => Object.keys(h).length <= 20, { message: "At most 20 headers." })
      .optional()
      .openapi({ example: { Authorization: "Bearer …" }, description: "Sent with every request to the server; stored encrypted, never answered" }),
  })
  .openapi("RegisterMcpServer");

const mcpToolSchema = z
  .object({ name: z.string().describe("As plans name it: mcp.<server>.<tool>"), description: z.string(), input_schema: z.record(z.string(), z.unknown()) })
  .openapi("McpTool");

export const mcpServerSchema = z
  .object({
    name: z.string(),
    url: z.string(),
    transport: z.enum(["streamable-http", "sse"]).describe("The transport that answered at registration"),
    header_names: z.array(z.string()).describe("The headers Crane sends; their values are never answered"),
    tools: z.array(mcpToolSchema),
    created_at: z.string(),
    refreshed_at: z.string().describe("When the tool list was last fetched"),
    last_error: z.string().nullable().describe("Why the last refresh failed; null after a successful one"),
  })
  .openapi("McpServer");

const nameParams = z.object({ name: z.string().openapi({ param: { name: "name", in: "path" }, example: "docs" }) });

function fail(outcome: Extract<McpOutcome<unknown>, { ok: false }>): never {
  const status =
    outcome.code === "mcp_server_not_found" ? 404 : outcome.code === "mcp_server_exists" ? 409 : outcome.code === "address_not_allowed" ? 400 : 502;
  throw new ApiError(status, outcome.code, outcome.message);
}

/** MCP_HEADER_KEY missing or malformed is the deployment's problem: 503, saying what to set. */
const headerKeyProblem = (err: unknown): unknown => (err instanceof HeaderKeyError ? new ApiError(503, "mcp_headers_unavailable", err.message) : err);

const notFound = (name: string) => new ApiError(404, "mcp_server_not_found", `No MCP server is named "${name}".`);

const register = createRoute({
  method: "post",
  operationId: "registerMcpServer",
  path: "/mcp-servers",
  tags: ["MCP servers"],
  summary: "Register an MCP server: its tools join the catalogue",
  description:
    "Crane connects (Streamable HTTP, else HTTP+SSE), runs initialize and tools/list, and stores the server only if that worked. Private and metadata addresses are refused unless HTTP_TOOL_ALLOWLIST lists them, on every redirect.",
  middleware: jsonBody,
  security: ACCESS.apiKey.security,
  request: { body: jsonRequest(registerMcpServerSchema, "The server") },
  responses: { 201: jsonResponse(mcpServerSchema, "Registered, with its tools"), ...errors(400, 409, 413, 415, 502, 503), ...ACCESS.apiKey.responses },
});

mcpServersApi.openapi(register, async (c) => {
  let outcome;
  try {
    outcome = await registerServer(c.env, c.var.principal.tenant, c.req.valid("json"));
  } catch (err) {
    throw headerKeyProblem(err);
  }
  if (!outcome.ok) fail(outcome);
  return c.json(outcome.value, 201);
});

const list = createRoute({
  method: "get",
  operationId: "listMcpServers",
  path: "/mcp-servers",
  tags: ["MCP servers"],
  summary: "The tenant's MCP servers",
  security: ACCESS.apiKey.security,
  responses: { 200: jsonResponse(z.object({ servers: z.array(mcpServerSchema) }), "Every server, by name"), ...ACCESS.apiKey.responses },
});

mcpServersApi.openapi(list, async (c) => c.json({ servers: (await listServers(c.env, c.var.principal.tenant)).map(serverView) }, 200));

const get = createRoute({
  method: "get",
  operationId: "getMcpServer",
  path: "/mcp-servers/{name}",
  tags: ["MCP servers"],
  summary: "One MCP server: its tools, last refresh and last error",
  security: ACCESS.apiKey.security,
  request: { params: nameParams },
  responses: { 200: jsonResponse(mcpServerSchema, "The server"), ...errors(404), ...ACCESS.apiKey.responses },
});

mcpServersApi.openapi(get, async (c) => {
  const { name } = c.req.valid("param");
  const server = await findServer(c.env, c.var.principal.tenant, name);
  if (!server) throw notFound(name);
  return c.json(serverView(server), 200);
});

const refresh = createRoute({
  method: "post",
  operationId: "refreshMcpServer",
  path: "/mcp-servers/{name}/refresh",
  tags: ["MCP servers"],
  summary: "List the server's tools again",
  description: "On failure the tools stay as they were, the server's last_error says why, and the answer is 502.",
  security: ACCESS.apiKey.security,
  request: { params: nameParams },
  responses: { 200: jsonResponse(mcpServerSchema, "The server with its tools now"), ...errors(404, 502, 503), ...ACCESS.apiKey.responses },
});

mcpServersApi.openapi(refresh, async (c) => {
  const outcome = await refreshServer(c.env, c.var.principal.tenant, c.req.valid("param").name).catch((err: unknown) => {
    throw headerKeyProblem(err);
  });
  if (!outcome.ok) fail(outcome);
  return c.json(outcome.value, 200);
});

const remove = createRoute({
  method: "delete",
  operationId: "deleteMcpServer",
  path: "/mcp-servers/{name}",
  tags: ["MCP servers"],
  summary: "Remove an MCP server and its tools",
  description: "Runs already planned with its tools fail those steps with mcp_server_not_found.",
  security: ACCESS.apiKey.security,
  request: { params: nameParams },
  responses: { 204: { description: "Removed" }, ...errors(404), ...ACCESS.apiKey.responses },
});

mcpServersApi.openapi(remove, async (c) => {
  const { name } = c.req.valid("param");
  if (!(await deleteServer(c.env, c.var.principal.tenant, name))) throw notFound(name);
  return c.body(null, 204);
});
