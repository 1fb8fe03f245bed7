import { env } from "cloudflare:workers";
import { describe, expect, inject, it } from "vitest";
import { api, uniq } from "./helpers";

// Two local servers, two origins: the upstream (test/upstream/server.ts) answers a 307 to the MCP
// server (test/mcp/mock-mcp-server.ts), which records the Authorization it was sent.
const MCP = env.MCP_TEST_URL;
const upstream = inject("upstreamUrl");

const seenAuthorizations = async (name: string) =>
  ((await (await fetch(`${MCP}/control/${name}/requests`)).json()) as { authorization?: string }[]).map((r) => r.authorization ?? null);

describe("an MCP server's registered headers across redirects", () => {
  it("are dropped when a 307 leads to another origin", async () => {
    const name = `hop-${uniq()}`;
    const url = `${upstream}/redirect?status=307&to=${encodeURIComponent(`${MCP}/s/${name}/mcp`)}`;
    const res = await api("/mcp-servers", { method: "POST", json: { name, url, headers: { Authorization: "Bearer leak-me" } } });
    expect(res.status, await res.clone().text()).toBe(201);
    const seen = await seenAuthorizations(name);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((a) => a === null)).toBe(true);
  });

  it("are kept on a redirect within the server's own origin", async () => {
    const name = `stay-${uniq()}`;
    const res = await api("/mcp-servers", {
      method: "POST",
      json: { name, url: `${MCP}/redirect/${name}/mcp`, headers: { Authorization: "Bearer mcp-secret" } },
    });
    expect(res.status, await res.clone().text()).toBe(201);
    expect(await seenAuthorizations(name)).toContain("Bearer mcp-secret");
  });
});
