// POST /mcp: Crane as an MCP server (Streamable HTTP, stateless, JSON answers), for assistants
// that drive runs over MCP. The API key is checked first, exactly as for the REST API (the
// caller's tenant, its rate limit, 401 before any MCP processing); then a server and transport
// are made for this one request, as the SDK's stateless mode expects. GET and DELETE (a stream
// or a session to end) have nothing to serve in stateless mode: 405.
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { AppEnv } from "./app-env";
import { ApiError } from "./errors";
import { craneMcpServer } from "./mcp/crane-mcp-tools";
import { MAX_BODY_BYTES } from "./middleware/json-body";
import { requireApiKey } from "./middleware/require-api-key";

export const mcpEndpoint = new Hono<AppEnv>();

mcpEndpoint.use(requireApiKey);

mcpEndpoint.post(
  "/",
  bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: () => {
      throw new ApiError(413, "payload_too_large", `The body is over the ${MAX_BODY_BYTES}-byte limit.`);
    },
  }),
  async (c) => {
    const server = craneMcpServer(c.env, c.var.principal);
    const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    await server.connect(transport);
    try {
      return await transport.handleRequest(c.req.raw);
    } finally {
      // With JSON answers the response is complete when handleRequest returns.
      await server.close();
    }
  },
);

mcpEndpoint.on(["GET", "DELETE"], "/", (c) =>
  c.json({ jsonrpc: "2.0", error: { code: -32000, message: "Method not allowed: this server is stateless; POST JSON-RPC messages." }, id: null }, 405, {
    allow: "POST",
  }),
);
