// Registering, refreshing and viewing a tenant's MCP servers. Registration proves the server is
// reachable and speaks MCP (initialize + tools/list through the SDK) before anything is stored;
// answers are outcomes, which the HTTP layer says in its own terms.
import { errorFields, log } from "../../lib/log";
import { AddressRefusedError, checkAddress } from "./guarded-fetch";
import { openHeaders, sealHeaders } from "./header-crypto";
import { connect, discover, listTools, type Connection, type McpTarget } from "./mcp-client";
import { mcpStepError } from "./mcp-errors";
import { findServer, insertServer, updateTools, type McpServerRecord } from "./mcp-server-store";
import { mcpToolName } from "./mcp-types";

/** How long registering or refreshing waits for the server, per request. */
export const MCP_CONNECT_TIMEOUT_MS = 10_000;

export interface RegisterRequest {
  name: string;
  url: string;
  headers?: Record<string, string> | undefined;
}

export type McpOutcome<T> =
  | { ok: true; value: T }
  | { ok: false; code: "address_not_allowed" | "mcp_server_exists" | "mcp_server_not_found"; message: string }
  | { ok: false; code: "mcp_server_unreachable"; message: string };

/** A server as the API answers it: header names, never their values. */
export function serverView(s: McpServerRecord) {
  return {
    name: s.name,
    url: s.url,
    transport: s.transport,
    header_names: s.headers?.names ?? [],
    tools: s.tools.map((t) => ({ name: mcpToolName(s.name, t.name), description: t.description, input_schema: t.input_schema })),
    created_at: s.created_at,
    refreshed_at: s.refreshed_at,
    last_error: s.last_error,
  };
}
export type McpServerView = ReturnType<typeof serverView>;

/** Connects (with `open`), lists the tools and closes; a failure as a sentence. */
async function listFrom(server: string, open: (signal: AbortSignal) => Promise<Connection>) {
  const signal = AbortSignal.timeout(MCP_CONNECT_TIMEOUT_MS * 2);
  let conn: Connection | undefined;
  try {
    conn = await open(signal);
    return { ok: true as const, transport: conn.transport, tools: await listTools(conn, signal, MCP_CONNECT_TIMEOUT_MS) };
  } catch (err) {
    if (err instanceof AddressRefusedError) return { ok: false as const, code: "address_not_allowed" as const, message: err.message };
    const why = mcpStepError(err, server, signal).message;
    return {
      ok: false as const,
      code: "mcp_server_unreachable" as const,
      message: `Crane could not use ${server} as an MCP server (initialize and tools/list): ${why}`,
    };
  } finally {
    await conn?.close();
  }
}

export async function registerServer(env: Env, tenant: string, req: RegisterRequest): Promise<McpOutcome<McpServerView>> {
  try {
    checkAddress(new URL(req.url), env);
  } catch (err) {
    if (err instanceof AddressRefusedError) return { ok: false, code: "address_not_allowed", message: err.message };
    throw err;
  }
  if (await findServer(env, tenant, req.name))
    return { ok: false, code: "mcp_server_exists", message: `An MCP server named "${req.name}" exists already; delete it first.` };
  const target: McpTarget = { url: req.url, headers: req.headers ?? {} };
  // Sealed before connecting, so a missing key fails before the server is troubled.
  const sealed = req.headers && Object.keys(req.headers).length ? await sealHeaders(env, tenant, req.name, req.headers) : null;
  const listed = await listFrom(req.url, (signal) => discover(target, env, signal, MCP_CONNECT_TIMEOUT_MS));
  if (!listed.ok) return listed;
  const now = new Date().toISOString();
  const record: McpServerRecord = {
    tenant,
    name: req.name,
    url: req.url,
    transport: listed.transport,
    headers: sealed,
    tools: listed.tools,
    created_at: now,
    refreshed_at: now,
    last_error: null,
  };
  if (!(await insertServer(env, record)))
    return { ok: false, code: "mcp_server_exists", message: `An MCP server named "${req.name}" exists already; delete it first.` };
  log.info("mcp.server_registered", { tenant, server: req.name, transport: listed.transport, tools: listed.tools.length });
  return { ok: true, value: serverView(record) };
}

/** Lists the server's tools again; a failure is kept as the server's last_error. */
export async function refreshServer(env: Env, tenant: string, name: string): Promise<McpOutcome<McpServerView>> {
  const server = await findServer(env, tenant, name);
  if (!server) return { ok: false, code: "mcp_server_not_found", message: `No MCP server is named "${name}".` };
  const headers = server.headers ? await openHeaders(env, tenant, name, server.headers) : {};
  const listed = await listFrom(name, (signal) => connect(server.transport, { url: server.url, headers }, env, signal, MCP_CONNECT_TIMEOUT_MS));
  if (!listed.ok) {
    await updateTools(env, tenant, name, { error: listed.message }).catch((err: unknown) =>
      log.warn("mcp.refresh_record_failed", { server: name, ...errorFields(err) }),
    );
    return listed;
  }
  await updateTools(env, tenant, name, { tools: listed.tools });
  return { ok: true, value: serverView({ ...server, tools: listed.tools, refreshed_at: new Date().toISOString(), last_error: null }) };
}
