import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { startRun } from "../../src/durable/run/start-run";
import { llmConfig } from "../../src/planner/llm/llm-config";
import { makePlan } from "../../src/planner/make-plan";
import { api, newApiKey, uniq, waitForRun } from "../helpers";

// The recorded model "mcp-tool" (test/llm/fixtures/mcp-tool.json) answers with a plan that calls
// mcp.llmcalc.add, then saves its sum as a todo. The tenant registers "llmcalc" first, against
// the real test MCP server.
const base = llmConfig(env)!;
const withModel = { ...env, LLM_MODEL: "mcp-tool" } as Env;
const PROMPT = "add 20 and 22 with my MCP calculator, then save the sum as a todo";

interface Seen {
  model: string;
  mcp_tools: string[];
}
const requests = async (): Promise<Seen[]> =>
  ((await (await fetch(`${base.baseURL!.replace(/\/v1$/, "")}/requests`)).json()) as Seen[]).filter((r) => r.model === "mcp-tool");

describe("the LLM planner and a tenant's MCP tools", () => {
  it("offers the tenant's MCP tools to the model and runs the plan that chooses one", async () => {
    const tenant = `llm-mcp-${uniq()}`;
    const key = (await newApiKey(tenant)).secret;
    const reg = await api("/mcp-servers", { method: "POST", json: { name: "llmcalc", url: `${env.MCP_TEST_URL}/s/llm-${tenant}/mcp` }, key });
    expect(reg.status).toBe(201);

    const started = await startRun(withModel, { tenant, body: { prompt: PROMPT }, source: { prompt: PROMPT }, options: {} });
    expect(started.ok).toBe(true);
    if (!started.ok) return;
    expect(started.run.plan).toMatchObject({ planner: "llm" });
    expect(started.run.plan!.steps.map((s) => s.tool)).toEqual(["mcp.llmcalc.add", "TodoStore.add"]);
    expect((await requests()).at(-1)!.mcp_tools).toEqual(expect.arrayContaining(["mcp.llmcalc.add", "mcp.llmcalc.echo"]));

    const run = await waitForRun(started.run.run_id, undefined, 20_000, key);
    expect(run.status).toBe("completed");
    expect(run.execution_log[0]!.output).toEqual({ sum: 42 });
    expect(run.execution_log[1]!.output).toMatchObject({ todo: { title: "the sum is 42" } });
  });

  it("does not offer one tenant's MCP tools to another, whose plan falls back to the rules", async () => {
    const before = (await requests()).length;
    const planned = await makePlan({ prompt: PROMPT }, withModel, `llm-mcp-none-${uniq()}`);
    const seen = await requests();
    expect(seen.length).toBeGreaterThan(before);
    // Its first request carries no MCP tools (a repair request quotes the model's own answer back).
    expect(seen[before]!.mcp_tools).toEqual([]);
    // The model's plan names a tool this tenant does not have: it is refused, then the rules plan.
    expect(planned.ok ? planned.plan.planner : planned.code).not.toBe("llm");
  });
});
