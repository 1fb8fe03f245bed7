import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { generateText, jsonSchema, streamText, tool } from "ai";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { registerScript, scriptRecord } from "./scripted-model-client";

// The scripted model server (test/llm/scripted-model.ts) must be a faithful enough OpenAI server
// that the AI SDK's own OpenAI-compatible provider talks to it unchanged.
const url = env.SCRIPTED_MODEL_URL;
const provider = (includeUsage: boolean) => createOpenAICompatible({ name: "scripted", baseURL: `${url}/v1`, includeUsage });
const key = () => `script-${crypto.randomUUID()}`;
const tools = {
  lookup: tool({ description: "Looks a word up", inputSchema: jsonSchema({ type: "object", properties: { word: { type: "string" } }, required: ["word"] }) }),
};

describe("the scripted model server", () => {
  it("streams text and two tool calls, with usage when asked, to streamText", async () => {
    const model = key();
    await registerScript(url, model, [
      {
        text: "Je vais chercher « café » ☕ et “thé”.",
        tool_calls: [
          { id: "a", name: "lookup", arguments: { word: "café" } },
          { id: "b", name: "lookup", arguments: { word: "thé" } },
        ],
        usage: { prompt_tokens: 120, completion_tokens: 33 },
      },
    ]);
    const result = streamText({ model: provider(true).chatModel(model), prompt: "go", tools, maxOutputTokens: 77, maxRetries: 0 });
    const deltas: string[] = [];
    for await (const part of result.fullStream) if (part.type === "text-delta") deltas.push(part.text);
    expect(deltas.length).toBeGreaterThan(1); // it streamed in pieces
    expect(deltas.join("")).toBe("Je vais chercher « café » ☕ et “thé”.");
    expect((await result.toolCalls).map((c) => [c.toolCallId, c.toolName, c.input])).toEqual([
      ["a", "lookup", { word: "café" }],
      ["b", "lookup", { word: "thé" }],
    ]);
    expect(await result.finishReason).toBe("tool-calls");
    expect(await result.usage).toMatchObject({ inputTokens: 120, outputTokens: 33 });
    const record = await scriptRecord(url, model);
    expect(record.calls).toEqual({ "0": 1 });
    expect(record.requests[0]).toMatchObject({ turn: 0, stream: true, include_usage: true, max_tokens: 77 });
    expect(record.requests[0]!.tools.map((t) => t.name)).toEqual(["lookup"]);
  });

  it("reports no usage on a stream when usage is not asked for", async () => {
    const model = key();
    await registerScript(url, model, [{ text: "hi", usage: { prompt_tokens: 5, completion_tokens: 1 } }]);
    const result = streamText({ model: provider(false).chatModel(model), prompt: "go", maxRetries: 0 });
    expect(await result.text).toBe("hi");
    expect((await result.usage).inputTokens).toBeUndefined();
    expect((await scriptRecord(url, model)).requests[0]!.include_usage).toBe(false);
  });

  it("paces a stream's chunks with chunk_delay_ms: the first text arrives while the response is still open", async () => {
    const model = key();
    await registerScript(url, model, [{ text: "one two three four five six", chunk_size: 4, chunk_delay_ms: 40 }]);
    const result = streamText({ model: provider(true).chatModel(model), prompt: "go", maxRetries: 0 });
    const openAtDelta: number[] = [];
    const deltas: string[] = [];
    for await (const part of result.fullStream)
      if (part.type === "text-delta") {
        deltas.push(part.text);
        openAtDelta.push((await scriptRecord(url, model)).in_flight);
      }
    expect(deltas.join("")).toBe("one two three four five six");
    // Paced: the first pieces came while the server was still writing the rest.
    expect(openAtDelta[0]).toBe(1);
    expect(openAtDelta.length).toBeGreaterThan(2);
  });

  it("answers generateText without streaming, with tool calls and usage, and counts turns by the transcript", async () => {
    const model = key();
    await registerScript(url, model, [
      { tool_calls: [{ id: "c1", name: "lookup", arguments: { word: "x" } }], usage: { prompt_tokens: 50, completion_tokens: 9 } },
      { text: "done", usage: { prompt_tokens: 80, completion_tokens: 2 } },
    ]);
    const first = await generateText({ model: provider(false).chatModel(model), prompt: "go", tools, maxRetries: 0 });
    expect(first.toolCalls.map((c) => [c.toolName, c.input])).toEqual([["lookup", { word: "x" }]]);
    expect(first.usage).toMatchObject({ inputTokens: 50, outputTokens: 9 });
    const second = await generateText({
      model: provider(false).chatModel(model),
      messages: [
        { role: "user", content: "go" },
        { role: "assistant", content: [{ type: "tool-call", toolCallId: "c1", toolName: "lookup", input: { word: "x" } }] },
        { role: "tool", content: [{ type: "tool-result", toolCallId: "c1", toolName: "lookup", output: { type: "text", value: "42" } }] },
      ],
      tools,
      maxRetries: 0,
    });
    expect(second.text).toBe("done");
    const record = await scriptRecord(url, model);
    expect(record.calls).toEqual({ "0": 1, "1": 1 });
    expect(record.requests.map((r) => [r.turn, r.stream])).toEqual([
      [0, false],
      [1, false],
    ]);
  });

  it("gives a turn's attempts their scripted replies in order: a 429 with Retry-After, then the answer", async () => {
    const model = key();
    await registerScript(url, model, [[{ error: { status: 429, retry_after: "7" } }, { text: "ok" }]]);
    const failed = await generateText({ model: provider(false).chatModel(model), prompt: "go", maxRetries: 0 }).catch((e: unknown) => e);
    expect(failed).toMatchObject({ statusCode: 429, responseHeaders: expect.objectContaining({ "retry-after": "7" }) });
    expect((await generateText({ model: provider(false).chatModel(model), prompt: "go", maxRetries: 0 })).text).toBe("ok");
    expect((await scriptRecord(url, model)).calls).toEqual({ "0": 2 });
  });

  it("drops a stream mid-answer when scripted to, without [DONE]", async () => {
    const model = key();
    await registerScript(url, model, [{ text: "a long answer that will not arrive whole", disconnect_after_chunks: 2 }]);
    const result = streamText({ model: provider(true).chatModel(model), prompt: "go", maxRetries: 0 });
    const parts: string[] = [];
    let text = "";
    const broke = await (async () => {
      for await (const part of result.fullStream) {
        parts.push(part.type);
        if (part.type === "text-delta") text += part.text;
      }
    })().catch((e: unknown) => e);
    expect(text).toBe("a long a"); // the first content chunk only
    expect(parts).not.toContain("finish-step");
    expect(String(broke)).toMatch(/Failed to process successful response/);
  });

  it("counts the most requests a key had in flight at once", async () => {
    const model = key();
    await registerScript(url, model, [{ text: "slow", latency_ms: 300 }]);
    await Promise.all([1, 2, 3].map(() => generateText({ model: provider(false).chatModel(model), prompt: "go", maxRetries: 0 })));
    const record = await scriptRecord(url, model);
    expect(record.max_concurrency).toBe(3);
    expect(record.in_flight).toBe(0);
  });
});
