// POST /mcp: Crane as an MCP server (Streamable HTTP, stateless, JSON answers), for assistants
// that drive runs over MCP. The API key is checked first, exactly as for the REST API (the
// caller's tenant, its rate limit, 401 before any MCP processing); then a server and transport
// are made for this one request, as the SDK's stateless mode expects. GET and DELETE (a stream
// or a session to end) have nothing to serve in stateless mode: 405.
//
// Credentials. Crane takes API keys, not OAuth tokens, so it implements the resource-server half
// of the MCP authorization spec and nothing more: its 401 carries a Bearer challenge (RFC 6750)
// with `resource_metadata` (RFC 9728 §5.1, as the spec requires of a 401) and, for a key that was
// sent and refused, `error="invalid_token"` with Crane's own code and message; the metadata it
// points to names no authorization server, because none issues tokens for Crane (RFC 9728 makes
// `authorization_servers` optional). A client learns there that the key is set by hand (a header),
// and the JSON body still carries the error in the API's one shape.
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { AppEnv } from "./app-env";
import { ApiError } from "./errors";
import { craneMcpServer } from "./mcp/crane-mcp-tools";
import { MAX_BODY_BYTES } from "./middleware/json-body";
import { requireApiKey } from "./middleware/require-api-key";

export const mcpEndpoint = new Hono<AppEnv>();

/** Where a client finds the resource metadata for /mcp (RFC 9728 §3.1: the resource's path after the well-known name). */
const RESOURCE_METADATA_PATH = "/.well-known/oauth-protected-resource/mcp";

/**
 * The challenge for a 401. Without credentials, no error code (RFC 6750 §3.1); with refused ones,
 * `invalid_token` and Crane's code and message, so a client can show the real reason. Quotes and
 * backslashes cannot occur in our messages, but are dropped anyway so the header stays parseable.
 */
function challenge(origin: string, refused: ApiError | undefined): string {
  const params = [`realm="crane"`, `resource_metadata="${origin}${RESOURCE_METADATA_PATH}"`];
  if (refused) params.push(`error="invalid_token"`, `error_description="${`${refused.code}: ${refused.message}`.replace(/["\\]/g, "")}"`);
  return `Bearer ${params.join(", ")}`;
}

mcpEndpoint.use(async (c, next) => {
  try {
    await requireApiKey(c, next);
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 401) throw err;
    const sent = c.req.header("authorization") !== undefined;
    throw new ApiError(401, err.code, err.message, err.details, { "www-authenticate": challenge(new URL(c.req.url).origin, sent ? err : undefined) });
  }
});

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
    // The SDK's McpServer declares `tools.listChanged: true` as soon as a tool is registered. This
    // server is stateless, with no stream to send that notification on (GET /mcp is 405), so it
    // says it sends none. Capabilities merge key by key, and this is registered last.
    server.server.registerCapabilities({ tools: { listChanged: false } });
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

/**
 * RFC 9728 protected resource metadata for /mcp, public: which resource this is, that the
 * credential goes in the Authorization header, and where its documentation is. It names no
 * authorization server: an API key comes from POST /api/v1/admin/keys (locally DEV_API_KEY), not
 * from an OAuth flow. Served at the path-specific and the root well-known address, the two a
 * client tries.
 */
export const mcpResourceMetadata = new Hono<AppEnv>();
mcpResourceMetadata.get("/.well-known/oauth-protected-resource/mcp", (c) => c.json(resourceMetadata(new URL(c.req.url).origin)));
mcpResourceMetadata.get("/.well-known/oauth-protected-resource", (c) => c.json(resourceMetadata(new URL(c.req.url).origin)));

const resourceMetadata = (origin: string) => ({
  resource: `${origin}/mcp`,
  resource_name: "Crane",
  bearer_methods_supported: ["header"],
  resource_documentation: `${origin}/docs`,
});
