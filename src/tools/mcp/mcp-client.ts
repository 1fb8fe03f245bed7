// Crane's side of a connection to an MCP server, through the official SDK's client. Each use
// connects, does its work and closes: a Worker cannot keep a connection open between requests,
// and a stateless server needs nothing more. Registration tries Streamable HTTP first and falls
// back to the older HTTP+SSE transport (the SDK's documented compatibility order); the transport
// that answered is stored and used directly from then on.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import { StreamableHTTPClientTransport, StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import { ToolListChangedNotificationSchema, type Tool as SdkTool } from "@modelcontextprotocol/sdk/types.js";
import { CfWorkerJsonSchemaValidator } from "@modelcontextprotocol/sdk/validation/cfworker-provider.js";
import pkg from "../../../package.json";
import { guardedFetch } from "./guarded-fetch";
import type { McpToolInfo, McpTransportKind } from "./mcp-types";

/** MCP tool names Crane can name in a plan step (`mcp.<server>.<tool>`, at most 100 characters). */
const TOOL_NAME = /^[A-Za-z0-9_-]{1,64}$/;

export interface McpTarget {
  url: string;
  headers: Record<string, string>;
}

export interface Connection {
  client: Client;
  transport: McpTransportKind;
  /** Set when the server said its tool list changed while we were connected. */
  toolsChanged: () => boolean;
  close: () => Promise<void>;
}

function transportFor(kind: McpTransportKind, target: McpTarget, env: Env): Transport {
  const options = { requestInit: { headers: target.headers }, fetch: guardedFetch(env, Object.keys(target.headers)) };
  return kind === "streamable-http"
    ? new StreamableHTTPClientTransport(new URL(target.url), {
        ...options,
        reconnectionOptions: { maxRetries: 0, initialReconnectionDelay: 1000, maxReconnectionDelay: 1000, reconnectionDelayGrowFactor: 1 },
      })
    : new SSEClientTransport(new URL(target.url), options);
}

async function open(kind: McpTransportKind, target: McpTarget, env: Env, signal: AbortSignal, timeoutMs: number): Promise<Connection> {
  // Validators without code generation: Workers refuse eval, which the SDK's default (Ajv) needs.
  const client = new Client({ name: "crane", version: pkg.version }, { capabilities: {}, jsonSchemaValidator: new CfWorkerJsonSchemaValidator() });
  let changed = false;
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
    changed = true;
  });
  const transport = transportFor(kind, target, env);
  try {
    await client.connect(transport, { signal, timeout: timeoutMs });
  } catch (err) {
    await client.close().catch(() => {});
    throw err;
  }
  return {
    client,
    transport: kind,
    toolsChanged: () => changed,
    close: async () => {
      // A stateful server is told the session is over; a stateless one gave no session id.
      if (transport instanceof StreamableHTTPClientTransport && transport.sessionId) await transport.terminateSession().catch(() => {});
      await client.close().catch(() => {});
    },
  };
}

/** Connects with the transport the server was registered with. */
export const connect = (kind: McpTransportKind, target: McpTarget, env: Env, signal: AbortSignal, timeoutMs: number) =>
  open(kind, target, env, signal, timeoutMs);

/**
 * Connects to a server not seen before: Streamable HTTP, else HTTP+SSE. As the specification's
 * compatibility note says, only a 4xx to the POST (404, 405: an old server) means "try SSE"; a
 * server that cannot be reached or answers nonsense is not tried again. The first error is the
 * one reported when both fail (it is the transport current servers speak).
 */
export async function discover(target: McpTarget, env: Env, signal: AbortSignal, timeoutMs: number): Promise<Connection> {
  try {
    return await open("streamable-http", target, env, signal, timeoutMs);
  } catch (first) {
    const status = first instanceof StreamableHTTPError ? first.code : undefined;
    if (signal.aborted || status === undefined || status < 400 || status >= 500) throw first;
    try {
      return await open("sse", target, env, signal, timeoutMs);
    } catch {
      throw first;
    }
  }
}

/** Every tool the server lists (following its pages), as Crane keeps them. */
export async function listTools(conn: Connection, signal: AbortSignal, timeoutMs: number): Promise<McpToolInfo[]> {
  const tools: SdkTool[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 20; page++) {
    const r = await conn.client.listTools(cursor ? { cursor } : {}, { signal, timeout: timeoutMs });
    tools.push(...r.tools);
    cursor = r.nextCursor;
    if (!cursor) break;
  }
  return tools
    .filter((t) => TOOL_NAME.test(t.name))
    .map((t) => ({
      name: t.name,
      description: t.description ?? t.title ?? "",
      input_schema: t.inputSchema as Record<string, unknown>,
      ...(t.annotations?.readOnlyHint !== undefined ? { read_only: t.annotations.readOnlyHint } : {}),
      ...(t.annotations?.idempotentHint !== undefined ? { idempotent: t.annotations.idempotentHint } : {}),
    }));
}
