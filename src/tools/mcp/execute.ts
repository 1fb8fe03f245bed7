// What `mcp.<server>.<tool>` does when the queue consumer runs it (its spec is spec.ts). Its
// input, checked against the tool's JSON Schema when the plan was made, is checked again once
// references are resolved. A step connects with the server's stored transport and headers, calls
// the tool under the step's abort signal, and closes.
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { stepError } from "../../execution/step-error";
import type { Json } from "../../lib/json";
import { errorFields, log } from "../../lib/log";
import { fail, ok, type ToolResult } from "../tool";
import { implement, type QueueToolImpl, type ToolContext } from "../tool-impl";
import { openHeaders } from "./header-crypto";
import { checkJsonSchema } from "./json-schema-check";
import { connect, listTools, type Connection } from "./mcp-client";
import { mcpStepError } from "./mcp-errors";
import { findServer, updateTools, type McpServerRecord } from "./mcp-server-store";
import { mcpToolHasEffects, parseMcpToolName, type McpToolInfo } from "./mcp-types";
import { mcpTool, type mcpInputSchema } from "./spec";

/**
 * Where a call with effects carries the step's idempotency key: MCP has no such field, so it rides
 * in the request's `_meta` (a prefixed key, as the specification asks of implementation metadata).
 * A server that dedupes by it makes a call after a lost report harmless too.
 */
export const IDEMPOTENCY_META_KEY = "crane/idempotency_key";

/** What a failed call says: the text of its content, cut short. */
function errorText(result: CallToolResult): string {
  const text = result.content
    .flatMap((c) => (c.type === "text" ? [c.text] : []))
    .join(" ")
    .trim();
  return (text || "the tool reported an error").slice(0, 500);
}

/** The tool as the cached list has it, else as the server lists it now (once), saved for the next step. */
async function findTool(conn: Connection, server: McpServerRecord, tool: string, ctx: ToolContext): Promise<McpToolInfo | undefined> {
  const known = server.tools.find((t) => t.name === tool);
  if (known) return known;
  const tools = await listTools(conn, ctx.signal, ctx.timeout_ms);
  await updateTools(ctx.env, server.tenant, server.name, { tools });
  log.info("mcp.tools_relisted", { tenant: server.tenant, server: server.name, reason: "unknown_tool", tools: tools.length });
  return tools.find((t) => t.name === tool);
}

async function call(server: McpServerRecord, tool: string, input: Record<string, unknown>, ctx: ToolContext): Promise<ToolResult> {
  const headers = server.headers ? await openHeaders(ctx.env, server.tenant, server.name, server.headers) : {};
  let conn: Connection | undefined;
  try {
    conn = await connect(server.transport, { url: server.url, headers }, ctx.env, ctx.signal, ctx.timeout_ms);
    const info = await findTool(conn, server, tool, ctx);
    if (!info)
      return fail(stepError("mcp_unknown_tool", `The MCP server "${server.name}" has no tool "${tool}" (its tool list was fetched again to be sure).`));
    const issues = checkJsonSchema(info.input_schema, input);
    if (issues.length) {
      const detail = issues.map((i) => `${i.path.join(".") || "input"}: ${i.message}`).join("; ");
      return fail(stepError("invalid_input", `mcp.${server.name}.${tool} got an input it cannot use after resolving references: ${detail}`));
    }
    const meta = mcpToolHasEffects(info) ? { _meta: { [IDEMPOTENCY_META_KEY]: ctx.idempotency_key } } : {};
    const result = (await conn.client.callTool({ name: tool, arguments: input, ...meta }, undefined, {
      signal: ctx.signal,
      timeout: ctx.timeout_ms,
    })) as CallToolResult;
    if (conn.toolsChanged()) {
      // The server said its tools changed while we were connected: keep the catalogue current.
      await updateTools(ctx.env, server.tenant, server.name, { tools: await listTools(conn, ctx.signal, ctx.timeout_ms) }).catch((err: unknown) =>
        log.warn("mcp.relist_failed", { server: server.name, ...errorFields(err) }),
      );
    }
    if (result.isError) return fail(stepError("mcp_tool_error", `mcp.${server.name}.${tool} failed: ${errorText(result)}`));
    return ok((result.structuredContent ?? result.content) as Json);
  } catch (err) {
    return fail(mcpStepError(err, server.name, ctx.signal));
  } finally {
    await conn?.close();
  }
}

const made = new Map<string, QueueToolImpl<typeof mcpInputSchema>>();

/** The runnable tool for an `mcp.<server>.<tool>` name, or undefined for any other name. */
export function mcpToolImpl(name: string): QueueToolImpl<typeof mcpInputSchema> | undefined {
  const spec = mcpTool(name);
  const parts = parseMcpToolName(name);
  if (!spec || !parts) return undefined;
  let tool = made.get(name);
  if (!tool) {
    tool = implement(spec, {
      async effectsFor(env, tenant) {
        const server = await findServer(env, tenant, parts.server);
        return mcpToolHasEffects(server?.tools.find((t) => t.name === parts.tool));
      },
      async execute(input, ctx) {
        const server = await findServer(ctx.env, ctx.tenant, parts.server);
        if (!server) return fail(stepError("mcp_server_not_found", `This tenant has no MCP server named "${parts.server}".`));
        return call(server, parts.tool, input, ctx);
      },
    });
    if (made.size > 1000) made.clear();
    made.set(name, tool);
  }
  return tool;
}
