import { env } from "cloudflare:workers";
import { runDurableObjectAlarm } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { breakerName } from "../../src/durable/breaker/tool-breaker";
import { api, createRun, uniq, waitForRun } from "../helpers";

// This project's breakers trip after 3 failures and cool down for 5 s. Each MCP server has its own
// breaker per tenant, `mcp.<server>`, shared by all of that server's tools.
const MCP = env.MCP_TEST_URL;

async function register(name: string): Promise<void> {
  expect((await api("/mcp-servers", { method: "POST", json: { name, url: `${MCP}/s/${name}/mcp` } })).status).toBe(201);
}

const addRun = (server: string, tool = "add") =>
  createRun({ plan: { steps: [{ step_number: 1, tool: `mcp.${server}.${tool}`, input: { a: 1, b: 2 } }] }, options: { retry: { max_attempts: 1 } } });

const toolCalls = async (server: string) =>
  ((await (await fetch(`${MCP}/control/${server}/requests`)).json()) as { rpc?: string }[]).filter((r) => r.rpc === "tools/call").length;

describe("an MCP server's circuit breaker", () => {
  it("opens for the failing server only: its steps wait, another server's keep running, and they go on when it recovers", async () => {
    const failing = `down-${uniq()}`;
    const healthy = `up-${uniq()}`;
    await register(failing);
    await register(healthy);
    await fetch(`${MCP}/control/${failing}/down`, { method: "POST" });

    for (let i = 0; i < 3; i++) {
      const done = await waitForRun((await addRun(failing)).run_id);
      expect(done.execution_log[0]!.error).toMatchObject({ code: "upstream_error" });
    }
    const breaker = env.BREAKERS.getByName(breakerName("dev", `mcp.${failing}`));
    expect(await breaker.status(`mcp.${failing}`)).toMatchObject({ tool: `mcp.${failing}`, state: "open" });

    // Open: a new step on that server waits without calling it; the other server is untouched.
    const calls = await toolCalls(failing);
    const waiting = await addRun(failing);
    const deferred = await waitForRun(waiting.run_id, (r) => r.execution_log[0]!.error?.code === "tool_unavailable");
    expect(deferred.execution_log[0]).toMatchObject({ status: "pending", attempts: 0 });
    expect(deferred.execution_log[0]!.error!.message).toContain(`mcp.${failing} is temporarily unavailable`);
    expect(await toolCalls(failing)).toBe(calls);

    const other = await waitForRun((await addRun(healthy)).run_id);
    expect(other.status).toBe("completed");
    expect(other.execution_log[0]!.output).toEqual({ sum: 3 });
    expect(await env.BREAKERS.getByName(breakerName("dev", `mcp.${healthy}`)).status(`mcp.${healthy}`)).toMatchObject({ state: "closed" });

    // The server recovers; the cooldown ends (the breaker's alarm): the waiting step is told and runs.
    await fetch(`${MCP}/control/${failing}/up`, { method: "POST" });
    expect(await runDurableObjectAlarm(breaker)).toBe(true);
    const recovered = await waitForRun(waiting.run_id);
    expect(recovered.status).toBe("completed");
    expect(recovered.execution_log[0]).toMatchObject({ attempts: 1, output: { sum: 3 } });
    // Woken by the breaker itself (not by waiting out its retry time): the run recorded the news.
    const events = (await (await api(`/runs/${waiting.run_id}/events`)).json()) as { events: { type: string; data: { tool?: string } }[] };
    expect(events.events.find((e) => e.type === "breaker.half_opened")?.data.tool).toBe(`mcp.${failing}`);
  });
});
