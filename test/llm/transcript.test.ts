import { describe, expect, it } from "vitest";
import { buildMessages, DEFAULT_AGENT_SYSTEM, MAX_RESULT_BYTES, type RecordedTurn } from "../../src/llm/transcript";

const turns: RecordedTurn[] = [
  {
    text: "Looking up both.",
    calls: [
      {
        tool: "Http.get",
        input: { url: "https://a", headers: { b: 1, a: 2 } },
        outcome: { status: "succeeded", output: { status: 200, body: { z: 1, a: [1, 2] } } },
      },
      { tool: "Http.get", input: { url: "https://b" }, outcome: { status: "failed", error: { code: "upstream_error", message: "b answered 500." } } },
    ],
  },
  {
    text: "",
    calls: [
      { tool: "TodoStore.delete", input: { id: 3 }, outcome: { status: "rejected", comment: "keep it" } },
      { tool: "Secret.wipe", input: {}, outcome: { status: "forbidden" } },
    ],
  },
  { text: "not json", calls: [], repair: "Answer with JSON only." },
];

describe("the transcript → messages builder", () => {
  it("builds the goal, each answer with its calls, each call's outcome and any repair request", () => {
    const { system, messages } = buildMessages({ goal: "compare a and b", system: "Be terse.", turns });
    expect(system).toBe(`${DEFAULT_AGENT_SYSTEM}\n\nBe terse.`);
    expect(messages).toEqual([
      { role: "user", content: "compare a and b" },
      {
        role: "assistant",
        content: "Looking up both.",
        tool_calls: [
          { id: "call_1_1", name: "Http.get", input: { headers: { a: 2, b: 1 }, url: "https://a" } },
          { id: "call_1_2", name: "Http.get", input: { url: "https://b" } },
        ],
      },
      { role: "tool", tool_call_id: "call_1_1", name: "Http.get", content: '{"body":{"a":[1,2],"z":1},"status":200}' },
      { role: "tool", tool_call_id: "call_1_2", name: "Http.get", content: "error upstream_error: b answered 500." },
      {
        role: "assistant",
        content: "",
        tool_calls: [
          { id: "call_2_1", name: "TodoStore.delete", input: { id: 3 } },
          { id: "call_2_2", name: "Secret.wipe", input: {} },
        ],
      },
      { role: "tool", tool_call_id: "call_2_1", name: "TodoStore.delete", content: "rejected by a person: keep it" },
      { role: "tool", tool_call_id: "call_2_2", name: "Secret.wipe", content: "not an allowed tool: Secret.wipe is not among the tools this agent may call" },
      { role: "assistant", content: "not json", tool_calls: [] },
      { role: "user", content: "Answer with JSON only." },
    ]);
  });

  it("builds byte-identical messages from the same log whatever its key order", () => {
    const shuffled = JSON.parse(JSON.stringify(turns), (_k, v: unknown) =>
      v && typeof v === "object" && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).reverse()) : v,
    ) as RecordedTurn[];
    expect(JSON.stringify(buildMessages({ goal: "g", turns: shuffled }))).toBe(JSON.stringify(buildMessages({ goal: "g", turns })));
  });

  it("cuts a long result at a byte limit without splitting a character", () => {
    const big = "é".repeat(MAX_RESULT_BYTES); // twice the limit in bytes
    const { messages } = buildMessages({
      goal: "g",
      turns: [{ text: "", calls: [{ tool: "T.x", input: {}, outcome: { status: "succeeded", output: big } }] }],
    });
    const content = (messages[2] as { content: string }).content;
    const [head] = content.split("\n[cut:");
    expect(new TextEncoder().encode(head).byteLength).toBeLessThanOrEqual(MAX_RESULT_BYTES);
    expect(head).toBe("é".repeat(MAX_RESULT_BYTES / 2));
    expect(content).toContain(`the result is ${MAX_RESULT_BYTES * 2} bytes`);
  });

  it("says when a person rejected without a comment", () => {
    const { messages } = buildMessages({ goal: "g", turns: [{ text: "", calls: [{ tool: "T.x", input: {}, outcome: { status: "rejected" } }] }] });
    expect(messages[2]).toMatchObject({ content: "rejected by a person: (no comment)" });
  });
});
