// The shapes every part of the MCP feature shares: the stored server, its tools, and the names
// they take in a tenant's catalogue (`mcp.<server>.<tool>`).
import { z } from "zod";

export const MCP_SERVER_NAME = /^[a-z0-9-]{1,32}$/;
export const MCP_PREFIX = "mcp.";

export type McpTransportKind = "streamable-http" | "sse";

export const mcpToolInfoSchema = z.object({
  name: z.string(),
  description: z.string(),
  input_schema: z.record(z.string(), z.unknown()),
  /**
   * The server's annotations `readOnlyHint` and `idempotentHint`, as it listed them; absent when it
   * did not say (and for tools stored before they were kept), which means "may change things".
   */
  read_only: z.boolean().optional(),
  idempotent: z.boolean().optional(),
});
export type McpToolInfo = z.infer<typeof mcpToolInfoSchema>;

/**
 * Whether a call may change something outside the run, so the consumer asks the run object first
 * (the pre-flight that stops a duplicate delivery or a cancelled step) and the server gets the
 * step's idempotency key. Per the MCP specification's tool annotations, only `readOnlyHint: true`
 * says a tool changes nothing; a tool that does not say is taken to have effects (the spec's own
 * default for `readOnlyHint` is false). `idempotentHint: true` makes a repeat harmless but not a
 * call for a step that was cancelled while its message waited, so it keeps the pre-flight too.
 */
export const mcpToolHasEffects = (tool: McpToolInfo | undefined): boolean => tool?.read_only !== true;

/** `mcp.<server>.<tool>` → its parts, or undefined for any other name. */
export function parseMcpToolName(name: string): { server: string; tool: string } | undefined {
  if (!name.startsWith(MCP_PREFIX)) return undefined;
  const rest = name.slice(MCP_PREFIX.length);
  const dot = rest.indexOf(".");
  if (dot <= 0) return undefined;
  const server = rest.slice(0, dot);
  const tool = rest.slice(dot + 1);
  return MCP_SERVER_NAME.test(server) && tool ? { server, tool } : undefined;
}

export const mcpToolName = (server: string, tool: string) => `${MCP_PREFIX}${server}.${tool}`;

/** The breaker an MCP tool's calls go through: one per server (and tenant), `mcp.<server>`. */
export const mcpBreakerName = (server: string) => `${MCP_PREFIX}${server}`;
