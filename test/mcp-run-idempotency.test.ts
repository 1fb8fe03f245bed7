import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { CfWorkerJsonSchemaValidator } from "@modelcontextprotocol/sdk/validation/cfworker-provider.js";
import { exports } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { DEV_KEY, uniq } from "./helpers";

// Crane's own /mcp, driven by the official SDK's client, over the Worker's fetch handler.
const open: Client[] = [];
async function client(): Promise<Client> {
  const c = new Client({ name: "crane-test", version: "1.0.0" }, { jsonSchemaValidator: new CfWorkerJsonSchemaValidator() });
  const transport = new StreamableHTTPClientTransport(new URL("http://crane.test/mcp"), {
    fetch: (url, init) => exports.default.fetch(new Request(url, init)),
    requestInit: { headers: { authorization: `Bearer ${DEV_KEY}` } },
  });
  await c.connect(transport);
  open.push(c);
  return c;
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
});

const run = async (args: Record<string, unknown>) => (await (await client()).callTool({ name: "crane_run", arguments: args })) as CallToolResult;

describe("crane_run's idempotency_key", () => {
  it("answers the run it started when a client repeats the call (even with another wait), and refuses the key for another task", async () => {
    const key = `mcp-retry-${uniq()}`;
    const plan = { steps: [{ step_number: 1, tool: "Calculator.evaluate", input: { expression: "20 + 22" } }] };
    const first = await run({ plan, idempotency_key: key, wait_seconds: 0 });
    expect(first.isError, JSON.stringify(first.content)).toBeFalsy();
    // The client lost the answer and calls again, from a new connection.
    const again = await run({ plan, idempotency_key: key, wait_seconds: 5 });
    expect(again.isError, JSON.stringify(again.content)).toBeFalsy();
    const a = first.structuredContent as { run_id: string };
    const b = again.structuredContent as { run_id: string; status: string; result: unknown };
    expect(b.run_id).toBe(a.run_id);
    expect(b).toMatchObject({ status: "completed", result: 42 });

    const other = await run({ plan: { steps: [{ ...plan.steps[0]!, input: { expression: "1 + 1" } }] }, idempotency_key: key });
    expect(other.isError).toBe(true);
    expect(JSON.stringify(other.content)).toContain("idempotency_conflict");
  });
});
