// `mcp.<server>.<tool>`, as the planner and the run see it: one generic queue tool spec for every
// tool of every registered MCP server. Its input was checked against the tool's JSON Schema when
// the plan was made (the zod schema here only says "an object"). Calls go through the server's own
// breaker (`mcp.<server>`, per tenant). What a call does (connect, call, close) is in execute.ts.
import { z } from "zod";
import { queueTool, type QueueTool } from "../tool";
import { mcpBreakerName, parseMcpToolName } from "./mcp-types";

export const mcpInputSchema = z.record(z.string(), z.unknown());

export type McpToolSpec = QueueTool<typeof mcpInputSchema>;

const made = new Map<string, McpToolSpec>();

/** The spec for an `mcp.<server>.<tool>` name, or undefined for any other name. */
export function mcpTool(name: string): McpToolSpec | undefined {
  const parts = parseMcpToolName(name);
  if (!parts) return undefined;
  let tool = made.get(name);
  if (!tool) {
    tool = queueTool({
      name,
      description: `Tool "${parts.tool}" of the tenant's MCP server "${parts.server}".`,
      input_schema: mcpInputSchema,
      // Taken from the server's annotations per call (the implementation's effectsFor); when they
      // cannot be read, assume effects: a needless pre-flight costs one request, a skipped one a double call.
      effects: true,
      breaker: mcpBreakerName(parts.server),
    });
    if (made.size > 1000) made.clear();
    made.set(name, tool);
  }
  return tool;
}
