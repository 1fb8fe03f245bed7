// A tenant's MCP tools as catalogue entries: `mcp.<server>.<tool>` with the server's JSON Schema.
// Built from the server store (cached per isolate), so asking costs a D1 read only when the
// cache is cold; callers ask only when a plan names an MCP tool or an LLM prompt is written.
import { listServers } from "./mcp-server-store";
import { mcpToolName } from "./mcp-types";

export interface McpCatalogueEntry {
  name: string;
  description: string;
  input_schema: Record<string, unknown>;
}

export type McpCatalogue = ReadonlyMap<string, McpCatalogueEntry>;

export const EMPTY_CATALOGUE: McpCatalogue = new Map();

export async function mcpCatalogue(env: Env, tenant: string): Promise<McpCatalogue> {
  const servers = await listServers(env, tenant);
  if (servers.length === 0) return EMPTY_CATALOGUE;
  const entries = servers.flatMap((s) =>
    s.tools.map((t): McpCatalogueEntry => ({
      name: mcpToolName(s.name, t.name),
      description: `${t.description || t.name} (tool "${t.name}" of the MCP server "${s.name}")`,
      input_schema: t.input_schema,
    })),
  );
  return new Map(entries.map((e) => [e.name, e]));
}
