import { rmSync } from "node:fs";
import type { Server } from "node:http";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyMigrations, killRuntime, startRuntime, type Runtime } from "../../scripts/local-runtime.ts";
import { mockUrl, startMockOpenAI } from "../llm/mock-openai.ts";
import { mcpMockUrl, startMockMcp } from "../mcp/mock-mcp-server.ts";
import { e2ePortBase } from "./ports.ts";

// Crane's own /mcp under `wrangler dev`, driven by the official SDK's MCP client. This runtime has
// its own state and an LLM planner: the local model server answers with the recorded plan
// "mcp-tool" (mcp.llmcalc.add, then the sum as a todo), and the real test MCP server is
// registered as "llmcalc" first. Ports: base + 5 (this runtime), + 6 (MCP server), + 7 (model).
const base = e2ePortBase();
const STATE = ".wrangler/e2e-mcp-state";
const KEY = "crane_dev_key";
let rt: Runtime | undefined;
let mcp: Server;
let llm: Server;

beforeAll(async () => {
  mcp = await startMockMcp(base + 6);
  llm = await startMockOpenAI();
  rmSync(STATE, { recursive: true, force: true });
  applyMigrations(STATE);
  rt = await startRuntime({
    port: base + 5,
    persistTo: STATE,
    logLevel: "warn",
    vars: { HTTP_TOOL_ALLOWLIST: "127.0.0.1:*", LLM_BASE_URL: `${mockUrl(llm)}/v1`, LLM_MODEL: "mcp-tool", PLANNER_BUDGET_MS: "10000" },
  });
});

afterAll(async () => {
  if (rt) await killRuntime(rt);
  mcp?.close();
  llm?.close();
});

describe("Crane's /mcp under wrangler dev, with the SDK's client", () => {
  it("lists its tools, then runs a prompt that uses a registered MCP server's tool and waits for the result", async () => {
    const reg = await fetch(`${rt!.url}/api/v1/mcp-servers`, {
      method: "POST",
      headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "llmcalc", url: `${mcpMockUrl(mcp)}/s/e2e/mcp` }),
    });
    expect(reg.status, await reg.clone().text()).toBe(201);

    const client = new Client({ name: "crane-e2e", version: "1.0.0" });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${rt!.url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${KEY}` } } }));
    try {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toEqual(
        expect.arrayContaining(["crane_run", "crane_get_run", "crane_list_runs", "crane_cancel_run", "crane_plan", "crane_decide"]),
      );

      const ran = (await client.callTool({
        name: "crane_run",
        arguments: { prompt: "add 20 and 22 with my MCP calculator, then save the sum as a todo", wait_seconds: 25 },
      })) as CallToolResult;
      expect(ran.isError, JSON.stringify(ran.content)).toBeFalsy();
      const out = ran.structuredContent as { run_id: string; status: string; ended: boolean; result: { todo?: { title: string } } };
      expect(out).toMatchObject({ status: "completed", ended: true });
      expect(out.result.todo?.title).toBe("the sum is 42");

      const got = (await client.callTool({ name: "crane_get_run", arguments: { run_id: out.run_id } })) as CallToolResult;
      const run = (got.structuredContent as { run: { plan: { planner: string; steps: { tool: string }[] }; execution_log: { output: unknown }[] } }).run;
      expect(run.plan.planner).toBe("llm");
      expect(run.plan.steps.map((s) => s.tool)).toEqual(["mcp.llmcalc.add", "TodoStore.add"]);
      expect(run.execution_log[0]!.output).toEqual({ sum: 42 });
    } finally {
      await client.close();
    }
  });
});
