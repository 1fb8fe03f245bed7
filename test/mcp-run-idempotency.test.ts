import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { describe, expect, it } from "vitest";
import { uniq } from "./helpers";
import { craneMcpClient } from "./crane-mcp-client";

// Crane's own /mcp, driven by the official SDK's client, over the Worker's fetch handler.
const run = async (args: Record<string, unknown>) => (await (await craneMcpClient()).callTool({ name: "crane_run", arguments: args })) as CallToolResult;

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
