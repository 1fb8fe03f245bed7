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
});
export type McpToolInfo = z.infer<typeof mcpToolInfoSchema>;

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
