// Validated LLM plans, reused for identical prompts within PLAN_CACHE_TTL_S. Keyed by the
// normalised prompt, the model and the tool catalogue's version, so a changed catalogue never
// serves a stale plan; a tenant with MCP tools adds its own catalogue to the key, so one tenant's
// plan never reaches another. The Cache API is shared by the isolates of a location (and works locally).
import { sha256Hex } from "../lib/hash";
import type { McpCatalogue } from "../tools/mcp/mcp-catalogue";
import { describeTools } from "../tools/registry";
import type { PlanInput } from "../execution/plan-schema";

let catalogueVersion: Promise<string> | undefined;
const version = () => (catalogueVersion ??= sha256Hex(JSON.stringify(describeTools())));

export const normalizePrompt = (prompt: string) => prompt.trim().replace(/\s+/g, " ").toLowerCase();

async function key(prompt: string, model: string, mcp?: McpCatalogue): Promise<Request> {
  const tenantTools = mcp && mcp.size > 0 ? `\n${await sha256Hex(JSON.stringify([...mcp.values()]))}` : "";
  const hash = await sha256Hex(`${await version()}${tenantTools}\n${model}\n${normalizePrompt(prompt)}`);
  return new Request(`https://plan-cache.crane.internal/${hash}`);
}

export async function cachedPlan(prompt: string, model: string, mcp?: McpCatalogue): Promise<PlanInput["steps"] | undefined> {
  const hit = await caches.default.match(await key(prompt, model, mcp));
  return hit ? ((await hit.json()) as { steps: PlanInput["steps"] }).steps : undefined;
}

export async function cachePlan(prompt: string, model: string, steps: PlanInput["steps"], ttlSeconds: number, mcp?: McpCatalogue): Promise<void> {
  if (ttlSeconds <= 0) return;
  const res = new Response(JSON.stringify({ steps }), { headers: { "content-type": "application/json", "cache-control": `max-age=${ttlSeconds}` } });
  await caches.default.put(await key(prompt, model, mcp), res);
}
