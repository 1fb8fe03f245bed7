import { describe, expect, it } from "vitest";
import { agentInputSchema, agentOutputSchema, MAX_GOAL_BYTES } from "../../src/tools/agent-run/agent-input";
import { checkAnswer } from "../../src/tools/agent-run/answer-check";
import { allowsTool, needsApproval, offeredTools } from "../../src/tools/agent-run/tool-patterns";

const issues = (value: unknown) => {
  const r = agentInputSchema.safeParse(value);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
};

describe("Agent.run's input", () => {
  it("takes a goal alone, with max_turns 10 by default", () => {
    expect(agentInputSchema.parse({ goal: "add a todo" })).toEqual({ goal: "add a todo", max_turns: 10 });
  });

  it("limits the goal to 8 KiB of UTF-8, not 8 Ki characters", () => {
    expect(issues({ goal: "a".repeat(MAX_GOAL_BYTES) })).toEqual([]);
    // 4097 three-byte characters: far under 8192 characters, over 8192 bytes.
    expect(issues({ goal: "€".repeat(2731) })).toEqual([`goal: The goal is 8193 bytes of UTF-8; the limit is ${MAX_GOAL_BYTES}.`]);
    expect(issues({ goal: "   " })).toEqual(["goal: Give the agent a goal."]);
  });

  it("keeps max_turns within 1–50 and refuses unknown fields", () => {
    expect(issues({ goal: "g", max_turns: 50 })).toEqual([]);
    expect(issues({ goal: "g", max_turns: 0 })).toHaveLength(1);
    expect(issues({ goal: "g", max_turns: 51 })).toHaveLength(1);
    expect(issues({ goal: "g", max_turns: 2.5 })).toHaveLength(1);
    expect(issues({ goal: "g", turns: 3 })).toHaveLength(1);
  });

  it("takes tool names and wildcards, and refuses what is neither", () => {
    expect(issues({ goal: "g", tools: ["TodoStore.add", "mcp.github.*", "Http.*", "*"], approve: ["TodoStore.delete"] })).toEqual([]);
    expect(issues({ goal: "g", tools: ["mcp.*.x"] })).toHaveLength(1);
    expect(issues({ goal: "g", tools: ["a b"] })).toHaveLength(1);
    expect(issues({ goal: "g", tools: [] })).toHaveLength(1);
  });

  it("takes a budget of positive tokens and dollars", () => {
    expect(issues({ goal: "g", budget: { max_tokens: 1000, max_cost_usd: 0.5 } })).toEqual([]);
    expect(issues({ goal: "g", budget: { max_tokens: 0 } })).toHaveLength(1);
    expect(issues({ goal: "g", budget: { max_cost_usd: -1 } })).toHaveLength(1);
    expect(issues({ goal: "g", budget: { max_dollars: 1 } })).toHaveLength(1);
  });

  it("takes an output_schema only when it is a JSON Schema", () => {
    const good = { type: "object", properties: { cheapest: { type: "string" }, n: { type: ["integer", "null"] } }, required: ["cheapest"] };
    expect(issues({ goal: "g", output_schema: good })).toEqual([]);
    const refused = (schema: unknown) => {
      const found = issues({ goal: "g", output_schema: schema });
      expect(found.length).toBeGreaterThan(0);
      for (const issue of found) expect(issue).toMatch(/^output_schema/);
      return found.join("; ");
    };
    expect(refused({ type: "strnig" })).toMatch(/not a JSON Schema: \/type/);
    expect(refused({ properties: { a: 5 } })).toMatch(/\/properties\/a/);
    expect(refused({ required: "a" })).toMatch(/\/required/);
    expect(refused({ $ref: "#/$defs/missing" })).toMatch(/not a JSON Schema/);
    refused([1]);
  });
});

describe("Agent.run's output", () => {
  it("is the answer (text or JSON), turns, tool calls and usage with cost", () => {
    const out = { answer: { cheapest: "b" }, turns: 3, tool_calls: 4, usage: { input_tokens: 10, output_tokens: 5, cost_usd: 0.001 } };
    expect(agentOutputSchema.parse(out)).toEqual(out);
    expect(agentOutputSchema.safeParse({ ...out, usage: { input_tokens: 1, output_tokens: 1 } }).success).toBe(false);
  });
});

describe("tool patterns", () => {
  it("matches names and `*` prefixes", () => {
    expect(allowsTool(["mcp.github.*"], "mcp.github.create_issue")).toBe(true);
    expect(allowsTool(["mcp.github.*"], "mcp.gitlab.create_issue")).toBe(false);
    expect(allowsTool(["TodoStore.add"], "TodoStore.addendum")).toBe(false);
    expect(allowsTool(["*"], "Http.get")).toBe(true);
  });

  it("lets an agent call Agent.run only when it is listed by name", () => {
    expect(allowsTool(["*"], "Agent.run")).toBe(false);
    expect(allowsTool(["Agent.*"], "Agent.run")).toBe(false);
    expect(allowsTool(["Agent.run"], "Agent.run")).toBe(true);
    expect(needsApproval(["TodoStore.*"], "TodoStore.delete")).toBe(true);
    expect(needsApproval(undefined, "TodoStore.delete")).toBe(false);
  });

  it("offers by default every tool without side effects plus the TodoStore tools", () => {
    const catalogue = [
      { name: "Calculator.evaluate", effects: false },
      { name: "Http.get", effects: false },
      { name: "TodoStore.add", effects: true },
      { name: "mcp.github.create_issue", effects: true },
      { name: "Agent.run", effects: false },
    ];
    expect(offeredTools(undefined, catalogue)).toEqual(["Calculator.evaluate", "Http.get", "TodoStore.add"]);
    expect(offeredTools(["mcp.*", "Agent.run"], catalogue)).toEqual(["mcp.github.create_issue", "Agent.run"]);
  });
});

describe("the JSON answer", () => {
  const schema = { type: "object", properties: { cheapest: { type: "string" } }, required: ["cheapest"] };

  it("is accepted when it validates, fenced or not", () => {
    expect(checkAnswer('{"cheapest": "b"}', schema, false)).toEqual({ ok: true, answer: { cheapest: "b" } });
    expect(checkAnswer('```json\n{"cheapest": "b"}\n```', schema, false)).toEqual({ ok: true, answer: { cheapest: "b" } });
  });

  it("gets one repair turn that names the problems and gives the schema, then fails with invalid_output", () => {
    const first = checkAnswer('{"cheapest": 3}', schema, false);
    expect(first).toEqual({
      ok: false,
      repair: `Your answer cannot be used:\n- cheapest: Instance type "number" is invalid. Expected "string".\nAnswer again with JSON only (no prose, no Markdown, no tool calls) that validates against this JSON Schema:\n${JSON.stringify(schema)}`,
    });
    expect(checkAnswer("the cheapest is b", schema, false)).toMatchObject({ ok: false, repair: expect.stringContaining("- it is not JSON") });
    expect(checkAnswer("{}", schema, true)).toMatchObject({ ok: false, code: "invalid_output", message: expect.stringContaining("cheapest") });
  });
});
