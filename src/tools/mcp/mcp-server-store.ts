// A tenant's MCP servers in D1 (`mcp_servers`). Written rarely (register, refresh, delete, a tool
// list that changed), read by the catalogue, the planner and the queue consumer: reads go through
// a per-isolate cache of CACHE_MS per tenant, so a busy tenant costs one D1 read per isolate every
// few seconds, and a tenant or run that never names an MCP tool costs none. A write here forgets
// this isolate's entry at once; other isolates see it within CACHE_MS.
import { and, eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { z } from "zod";
import { mcpServers, type McpServerRow } from "../../db/schema";
import { sealedHeadersSchema, type SealedHeaders } from "./header-crypto";
import { mcpToolInfoSchema, type McpToolInfo, type McpTransportKind } from "./mcp-types";
import { dbFor } from "../../db/shards";

const CACHE_MS = 5000;
const CACHE_MAX = 5000;

export interface McpServerRecord {
  tenant: string;
  name: string;
  url: string;
  transport: McpTransportKind;
  headers: SealedHeaders | null;
  tools: McpToolInfo[];
  created_at: string;
  refreshed_at: string;
  last_error: string | null;
}

const toolsSchema = z.array(mcpToolInfoSchema);

function fromRow(row: McpServerRow): McpServerRecord {
  return {
    tenant: row.tenant,
    name: row.name,
    url: row.url,
    transport: row.transport,
    headers: row.headers ? sealedHeadersSchema.parse(JSON.parse(row.headers)) : null,
    tools: toolsSchema.parse(JSON.parse(row.tools)),
    created_at: row.created_at,
    refreshed_at: row.refreshed_at,
    last_error: row.last_error,
  };
}

const cache = new Map<string, { servers: Promise<McpServerRecord[]>; until: number }>();

/** The tenant's servers, by name. */
export function listServers(env: Env, tenant: string): Promise<McpServerRecord[]> {
  const hit = cache.get(tenant);
  if (hit && hit.until > Date.now()) return hit.servers;
  const servers = drizzle(dbFor(env, tenant))
    .select()
    .from(mcpServers)
    .where(eq(mcpServers.tenant, tenant))
    .orderBy(mcpServers.name)
    .all()
    .then((rows) => rows.map(fromRow));
  if (cache.size >= CACHE_MAX) cache.clear();
  cache.set(tenant, { servers, until: Date.now() + CACHE_MS });
  // A failed read is not remembered.
  servers.catch(() => cache.delete(tenant));
  return servers;
}

export async function findServer(env: Env, tenant: string, name: string): Promise<McpServerRecord | undefined> {
  return (await listServers(env, tenant)).find((s) => s.name === name);
}

const forget = (tenant: string) => cache.delete(tenant);

/** Adds a server; false when the tenant has one by that name already. */
export async function insertServer(env: Env, s: McpServerRecord): Promise<boolean> {
  const inserted = await drizzle(dbFor(env, s.tenant))
    .insert(mcpServers)
    .values({ ...s, headers: s.headers ? JSON.stringify(s.headers) : null, tools: JSON.stringify(s.tools) })
    .onConflictDoNothing()
    .returning({ name: mcpServers.name });
  forget(s.tenant);
  return inserted.length === 1;
}

/** A new tool list (refreshed_at moves) or, with `error`, only the error of a failed refresh. */
export async function updateTools(env: Env, tenant: string, name: string, change: { tools: McpToolInfo[] } | { error: string }): Promise<void> {
  const set =
    "tools" in change ? { tools: JSON.stringify(change.tools), refreshed_at: new Date().toISOString(), last_error: null } : { last_error: change.error };
  await drizzle(dbFor(env, tenant))
    .update(mcpServers)
    .set(set)
    .where(and(eq(mcpServers.tenant, tenant), eq(mcpServers.name, name)));
  forget(tenant);
}

export async function deleteServer(env: Env, tenant: string, name: string): Promise<boolean> {
  const deleted = await drizzle(dbFor(env, tenant))
    .delete(mcpServers)
    .where(and(eq(mcpServers.tenant, tenant), eq(mcpServers.name, name)))
    .returning({ name: mcpServers.name });
  forget(tenant);
  return deleted.length === 1;
}
