import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { BreakerStatus } from "../../src/durable/breaker/tool-breaker";
import { api, createRun, uniq, waitForRun } from "../helpers";

// This project's breakers trip after 3 failures. Each MCP server has its own breaker per tenant.
const MCP = env.MCP_TEST_URL;

const listed = async () => ((await (await api("/breakers")).json()) as { breakers: BreakerStatus[] }).breakers;

describe("GET /breakers and POST /breakers/{tool}/reset with MCP servers", () => {
  it("lists an MCP server's breaker beside the built-in tools' and resets it", async () => {
    const server = `gone-${uniq()}`;
    expect((await api("/mcp-servers", { method: "POST", json: { name: server, url: `${MCP}/s/${server}/mcp` } })).status).toBe(201);
    await fetch(`${MCP}/control/${server}/down`, { method: "POST" });
    for (let i = 0; i < 3; i++) {
      const run = await createRun({
        plan: { steps: [{ step_number: 1, tool: `mcp.${server}.add`, input: { a: 1, b: 2 } }] },
        options: { retry: { max_attempts: 1 } },
      });
      await waitForRun(run.run_id);
    }
    const before = await listed();
    expect(before.map((b) => b.tool)).toEqual(expect.arrayContaining(["Http.get", `mcp.${server}`]));
    expect(before.find((b) => b.tool === `mcp.${server}`)?.state).toBe("open");

    const reset = await api(`/breakers/mcp.${server}/reset`, { method: "POST" });
    expect(reset.status).toBe(200);
    expect(((await reset.json()) as BreakerStatus).state).toBe("closed");
    expect((await listed()).find((b) => b.tool === `mcp.${server}`)?.state).toBe("closed");

    // A server the tenant does not have has no breaker to reset.
    expect((await api(`/breakers/mcp.nobody-${uniq()}/reset`, { method: "POST" })).status).toBe(404);
  });
});
