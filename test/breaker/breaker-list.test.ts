import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { BreakerStatus } from "../../src/durable/breaker/tool-breaker";
import { ADMIN_TOKEN, api, createRun, uniq, waitForRun } from "../helpers";

// This project's breakers trip after 3 failures. Each MCP server has its own breaker per tenant.
const MCP = env.MCP_TEST_URL;

const listed = async () => ((await (await api("/breakers")).json()) as { breakers: BreakerStatus[] }).breakers;

/** Registers an MCP server, takes it down, and fails three runs on it: its breaker opens. */
async function tripServer(server: string) {
  expect((await api("/mcp-servers", { method: "POST", json: { name: server, url: `${MCP}/s/${server}/mcp` } })).status).toBe(201);
  await fetch(`${MCP}/control/${server}/down`, { method: "POST" });
  for (let i = 0; i < 3; i++) {
    const run = await createRun({
      plan: { steps: [{ step_number: 1, tool: `mcp.${server}.add`, input: { a: 1, b: 2 } }] },
      options: { retry: { max_attempts: 1 } },
    });
    await waitForRun(run.run_id);
  }
}

/** One sample of GET /metrics (Prometheus text), by name and exact labels; undefined when absent. */
async function metric(name: string, labels: Record<string, string>): Promise<number | undefined> {
  const res = await exports.default.fetch(new Request("http://crane.test/metrics", { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }));
  expect(res.status).toBe(200);
  const want = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .sort()
    .join(",");
  for (const line of (await res.text()).split("\n")) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\} (\S+)$/.exec(line);
    if (m?.[1] === name && m[2]!.split(",").sort().join(",") === want) return Number(m[3]);
  }
  return undefined;
}

describe("GET /breakers and POST /breakers/{tool}/reset with MCP servers", () => {
  it("lists an MCP server's breaker beside the built-in tools' and resets it", async () => {
    const server = `gone-${uniq()}`;
    await tripServer(server);
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

  it("shows a registered MCP server's breaker in GET /metrics, with its state and transitions", async () => {
    const server = `metrics-${uniq()}`;
    const labels = { tenant: "dev", tool: `mcp.${server}` };
    expect((await api("/mcp-servers", { method: "POST", json: { name: server, url: `${MCP}/s/${server}/mcp` } })).status).toBe(201);
    // Registered and never called: its breaker is there, closed.
    expect(await metric("crane_breaker_state", labels)).toBe(0);
    // A server the tenant deleted has no series.
    expect((await api(`/mcp-servers/${server}`, { method: "DELETE" })).status).toBe(204);
    expect(await metric("crane_breaker_state", labels)).toBeUndefined();

    await tripServer(server);
    expect(await metric("crane_breaker_state", labels)).toBe(2);
    expect(await metric("crane_breaker_transitions_total", { ...labels, to: "open" })).toBe(1);
    await api(`/breakers/mcp.${server}/reset`, { method: "POST" });
    expect(await metric("crane_breaker_state", labels)).toBe(0);
    expect(await metric("crane_breaker_transitions_total", { ...labels, to: "closed" })).toBe(1);
  });
});
