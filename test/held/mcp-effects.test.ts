import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { IDEMPOTENCY_META_KEY } from "../../src/tools/mcp/execute";
import { api, createRun, getRun, uniq } from "../helpers";
import { deliver, sentMessages } from "./harness";

// The MCP server is real (test/mcp/mock-mcp-server.ts): it counts the tools/call requests it gets.
const MCP = env.MCP_TEST_URL;

interface SeenRequest {
  rpc?: string;
  tool?: string;
  meta?: Record<string, unknown>;
}

const calls = async (server: string, tool: string) =>
  ((await (await fetch(`${MCP}/control/${server}/requests`)).json()) as SeenRequest[]).filter((r) => r.rpc === "tools/call" && r.tool === tool);

async function registered(): Promise<string> {
  const name = `fx-${uniq()}`;
  const res = await api("/mcp-servers", { method: "POST", json: { name, url: `${MCP}/s/${name}/mcp` } });
  expect(res.status, await res.clone().text()).toBe(201);
  return name;
}

describe("MCP tools' side effects come from the server's annotations", () => {
  it("calls a tool that does not say it is read-only once when its message is delivered twice, with the step's idempotency key", async () => {
    const server = await registered();
    const run = await createRun({ plan: { steps: [{ step_number: 1, tool: `mcp.${server}.record`, input: { text: "once" } }] } });
    const [msg] = await sentMessages(run.run_id);
    await deliver(msg!, msg!);
    expect((await getRun(run.run_id)).status).toBe("completed");
    const seen = await calls(server, "record");
    expect(seen).toHaveLength(1);
    expect(seen[0]!.meta?.[IDEMPOTENCY_META_KEY]).toBe(`${run.run_id}:1`);
  });

  it("skips the pre-flight for a tool annotated readOnlyHint: a duplicate reads twice, as any read-only step may", async () => {
    const server = await registered();
    const run = await createRun({ plan: { steps: [{ step_number: 1, tool: `mcp.${server}.lookup`, input: { text: "twice" } }] } });
    const [msg] = await sentMessages(run.run_id);
    await deliver(msg!, msg!);
    expect((await getRun(run.run_id)).status).toBe("completed");
    const seen = await calls(server, "lookup");
    expect(seen).toHaveLength(2);
    expect(seen[0]!.meta?.[IDEMPOTENCY_META_KEY]).toBeUndefined();
  });
});
