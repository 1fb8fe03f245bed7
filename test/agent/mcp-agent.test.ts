// crane_run on Crane's MCP server with `agent`: the same one-step Agent.run run POST /runs' `agent`
// starts, against the scripted model server, driven by the official SDK's client.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { registerScript, scriptRecord } from "../llm/scripted-model-client";
import { api, uniq, waitForRun } from "../helpers";
import { craneMcpClient } from "../crane-mcp-client";

const modelUrl = env.SCRIPTED_MODEL_URL;
const crane_run = async (c: Client, args: Record<string, unknown>) => (await c.callTool({ name: "crane_run", arguments: args })) as CallToolResult;

describe("crane_run with an agent", () => {
  it("starts a run of one Agent.run step with the agent's input, and answers its result", async () => {
    const model = `mcp-agent-${uniq()}`;
    await registerScript(modelUrl, model, [{ tool_calls: [{ name: "Calculator.evaluate", arguments: { expression: "6*7" } }] }, { text: "It is 42." }]);
    const c = await craneMcpClient();
    const tools = (await c.listTools()).tools;
    // The tool says it takes an agent, with Agent.run's input schema, so an MCP client can fill it in.
    const schema = tools.find((t) => t.name === "crane_run")!.inputSchema as unknown as { properties: { agent: { properties: Record<string, unknown> } } };
    expect(Object.keys(schema.properties.agent.properties)).toEqual(expect.arrayContaining(["goal", "tools", "max_turns", "budget", "approve"]));

    const r = await crane_run(c, { agent: { goal: "work out 6*7", model, tools: ["Calculator.evaluate"], max_turns: 3 }, wait_seconds: 20 });
    expect(r.isError, JSON.stringify(r.content)).toBeFalsy();
    const ran = r.structuredContent as { run_id: string; status: string; result: { answer: string; turns: number } };
    expect(ran.status).toBe("completed");
    const run = await waitForRun(ran.run_id);
    expect(run.execution_log.map((s) => [s.tool, (s.input as { goal: string }).goal])).toEqual([["Agent.run", "work out 6*7"]]);
    expect(run.result).toMatchObject({ answer: "It is 42.", turns: 2, tool_calls: 1 });
    expect((await scriptRecord(modelUrl, model)).calls).toEqual({ "0": 1, "1": 1 });
  });

  it("decides an agent's waiting tool call with crane_decide and its call number", async () => {
    const model = `mcp-approve-${uniq()}`;
    await registerScript(modelUrl, model, [{ tool_calls: [{ name: "TodoStore.add", arguments: { title: "from mcp" } }] }, { text: "added" }]);
    const c = await craneMcpClient();
    const started = await crane_run(c, { agent: { goal: "add a todo", model, tools: ["TodoStore.add"], approve: ["TodoStore.add"] }, wait_seconds: 0 });
    const { run_id } = started.structuredContent as { run_id: string };
    await vi.waitFor(
      async () => {
        const run = await (await api(`/runs/${run_id}`)).json<{ execution_log: { turns?: { calls: { status: string }[] }[] }[] }>();
        expect(run.execution_log[0]!.turns?.[0]?.calls[0]?.status).toBe("waiting");
      },
      { timeout: 10_000, interval: 50 },
    );
    const decided = await c.callTool({ name: "crane_decide", arguments: { run_id, step: 1, decision: "approve", call: 1, comment: "ok" } });
    expect(decided.isError, JSON.stringify(decided.content)).toBeFalsy();
    const run = await waitForRun(run_id);
    expect(run.status).toBe("completed");
    expect(run.execution_log[0]!.turns![0]!.calls[0]).toMatchObject({ call: 1, status: "succeeded", comment: "ok" });
  });

  it("refuses an agent input Agent.run's schema refuses, before anything runs", async () => {
    const c = await craneMcpClient();
    for (const agent of [{ goal: "g", max_turns: 51 }, { tools: ["Http.get"] }]) {
      const r = await crane_run(c, { agent });
      expect(r.isError, JSON.stringify(agent)).toBe(true);
    }
  });
});
