import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { LlmConfig } from "../../src/planner/llm/llm-config";
import { callModel, modelCallConfig, type ModelCallInput } from "../../src/llm/model-call";
import { registerScript, scriptRecord } from "./scripted-model-client";

// One model call as a unit of work, against the scripted OpenAI-compatible server.
const url = env.SCRIPTED_MODEL_URL;
const config = (model: string): LlmConfig => ({ kind: "openai-compatible", model, baseURL: `${url}/v1`, budgetMs: 10_000 });
const key = () => `call-${crypto.randomUUID()}`;
const todoAdd = {
  name: "TodoStore.add",
  description: "Adds a todo",
  input_schema: { type: "object", properties: { title: { type: "string" } }, required: ["title"] },
};
const mcpTool = { name: "mcp.github.create_issue", description: "Opens an issue", input_schema: { type: "object", properties: {} } };

function input(model: string, over: Partial<ModelCallInput> = {}): ModelCallInput {
  return { model, system: "be brief", messages: [{ role: "user", content: "add a todo" }], tools: [todoAdd, mcpTool], max_tokens: 321, ...over };
}

describe("callModel", () => {
  it("streams the answer and returns text, tool calls under Crane's dotted names, usage and why it stopped", async () => {
    const model = key();
    await registerScript(url, model, [
      {
        text: "J'ajoute « thé » 🍵",
        tool_calls: [
          { id: "x1", name: "TodoStore__add", arguments: { title: "thé" } },
          { id: "x2", name: "mcp__github__create_issue", arguments: {} },
        ],
        usage: { prompt_tokens: 210, completion_tokens: 17 },
      },
    ]);
    const outcome = await callModel(config(model), env, input(model));
    expect(outcome).toEqual({
      ok: true,
      result: {
        text: "J'ajoute « thé » 🍵",
        tool_calls: [
          { id: "x1", name: "TodoStore.add", input: { title: "thé" } },
          { id: "x2", name: "mcp.github.create_issue", input: {} },
        ],
        usage: { input_tokens: 210, output_tokens: 17 },
        usage_estimated: false,
        finish_reason: "tool_calls",
      },
    });
    const [request] = (await scriptRecord(url, model)).requests;
    // The provider saw no dots, the cap and a streamed call asking for usage.
    expect(request!.tools.map((t) => t.name)).toEqual(["TodoStore__add", "mcp__github__create_issue"]);
    expect(request).toMatchObject({ stream: true, include_usage: true, max_tokens: 321 });
    expect(request!.messages[0]).toEqual({ role: "system", content: "be brief" });
  });

  it("asks for the whole answer in one response when told not to stream, with the same result and no deltas", async () => {
    const model = key();
    const reply = {
      text: "J'ajoute « thé » 🍵",
      tool_calls: [
        { id: "x1", name: "TodoStore__add", arguments: { title: "thé" } },
        { id: "x2", name: "not__offered", arguments: {} },
      ],
      usage: { prompt_tokens: 210, completion_tokens: 17 },
    };
    await registerScript(url, model, [reply, reply]);
    const deltas: string[] = [];
    const quiet = await callModel(config(model), env, input(model), { stream: false, onDelta: (t) => deltas.push(t) });
    expect(quiet).toEqual({
      ok: true,
      result: {
        text: "J'ajoute « thé » 🍵",
        // A tool it was not offered is kept under the model's name, as when streamed.
        tool_calls: [
          { id: "x1", name: "TodoStore.add", input: { title: "thé" } },
          { id: "x2", name: "not__offered", input: {} },
        ],
        usage: { input_tokens: 210, output_tokens: 17 },
        usage_estimated: false,
        finish_reason: "tool_calls",
      },
    });
    expect(deltas).toEqual([]);
    const [request] = (await scriptRecord(url, model)).requests;
    expect(request).toMatchObject({ stream: false, max_tokens: 321 });
    // Streamed, the same reply gives the same result.
    const streamed = await callModel(
      config(model),
      env,
      input(model, {
        messages: [
          { role: "user", content: "add a todo" },
          { role: "assistant", content: "x" },
        ],
      }),
    );
    expect(streamed).toEqual(quiet);
    expect((await scriptRecord(url, model)).requests[1]).toMatchObject({ stream: true });
  });

  it("classifies errors of a call that does not stream as a streamed one's", async () => {
    const m429 = key();
    await registerScript(url, m429, [{ error: { status: 429, retry_after: "3" } }]);
    expect(await callModel(config(m429), env, input(m429), { stream: false })).toMatchObject({
      ok: false,
      error: { code: "upstream_rate_limited", retryable: true, retry_after_ms: 3000 },
    });
  });

  it("sends earlier turns' calls and results under the wire names, with their ids", async () => {
    const model = key();
    await registerScript(url, model, [{ text: "unused" }, { text: "done" }]);
    const outcome = await callModel(
      config(model),
      env,
      input(model, {
        messages: [
          { role: "user", content: "add a todo" },
          { role: "assistant", content: "", tool_calls: [{ id: "call_1_1", name: "TodoStore.add", input: { title: "a" } }] },
          { role: "tool", tool_call_id: "call_1_1", name: "TodoStore.add", content: '{"id":1}' },
        ],
      }),
    );
    expect(outcome).toMatchObject({ ok: true, result: { text: "done", finish_reason: "stop" } });
    const record = await scriptRecord(url, model);
    expect(record.calls).toEqual({ "1": 1 });
    expect(record.requests[0]!.messages.slice(2)).toEqual([
      {
        role: "assistant",
        content: null,
        tool_calls: [{ id: "call_1_1", type: "function", function: { name: "TodoStore__add", arguments: '{"title":"a"}' } }],
      },
      { role: "tool", tool_call_id: "call_1_1", content: '{"id":1}' },
    ]);
  });

  it("hands text on coalesced: with the clock standing still, the first piece at once and the rest at the end", async () => {
    const model = key();
    await registerScript(url, model, [{ text: "0123456789abcdefghijklmnopqrstuvwxyz", chunk_size: 4 }]);
    const deltas: string[] = [];
    const outcome = await callModel(config(model), env, input(model), { onDelta: (t) => deltas.push(t), now: () => 1000 });
    expect(outcome.ok).toBe(true);
    expect(deltas).toEqual(["0123", "456789abcdefghijklmnopqrstuvwxyz"]);
  });

  it("classifies a 429 as retryable after the provider's Retry-After", async () => {
    const model = key();
    await registerScript(url, model, [{ error: { status: 429, retry_after: "3" } }]);
    expect(await callModel(config(model), env, input(model))).toEqual({
      ok: false,
      error: { code: "upstream_rate_limited", message: expect.any(String), retryable: true, retry_after_ms: 3000 },
    });
  });

  it("classifies a 5xx as retryable and a 4xx as final", async () => {
    const m500 = key();
    const m400 = key();
    await registerScript(url, m500, [{ error: { status: 503 } }]);
    await registerScript(url, m400, [{ error: { status: 400, message: "bad request" } }]);
    expect(await callModel(config(m500), env, input(m500))).toMatchObject({ ok: false, error: { code: "upstream_error", retryable: true } });
    expect(await callModel(config(m400), env, input(m400))).toMatchObject({ ok: false, error: { code: "upstream_rejected", retryable: false } });
  });

  it("fails a stream cut off mid-answer as retryable, and the retry is the turn's second attempt", async () => {
    const model = key();
    await registerScript(url, model, [[{ text: "half an answer, then nothing", disconnect_after_chunks: 2 }, { text: "whole" }]]);
    expect(await callModel(config(model), env, input(model))).toMatchObject({ ok: false, error: { retryable: true } });
    expect(await callModel(config(model), env, input(model))).toMatchObject({ ok: true, result: { text: "whole" } });
    expect((await scriptRecord(url, model)).calls).toEqual({ "0": 2 });
  });

  it("fails a stream that ends cleanly before the model finished as retryable, not as a short answer", async () => {
    const model = key();
    await registerScript(url, model, [{ text: "the first words of a longer answer", end_after_chunks: 3 }]);
    expect(await callModel(config(model), env, input(model))).toMatchObject({
      ok: false,
      error: { code: "upstream_unreachable", retryable: true, message: expect.stringMatching(/stream ended/) },
    });
  });

  it("gives up at its timeout with a retryable upstream_timeout", async () => {
    const model = key();
    await registerScript(url, model, [{ text: "late", latency_ms: 2000 }]);
    expect(await callModel(config(model), env, input(model, { timeout_ms: 150 }))).toMatchObject({
      ok: false,
      error: { code: "upstream_timeout", retryable: true },
    });
  });

  it("keeps a call to a tool it was not offered under the model's name, for the loop to refuse", async () => {
    const model = key();
    await registerScript(url, model, [{ tool_calls: [{ id: "z", name: "Secret__wipe", arguments: {} }] }]);
    expect(await callModel(config(model), env, input(model))).toMatchObject({ ok: true, result: { tool_calls: [{ id: "z", name: "Secret__wipe" }] } });
  });
});

describe("modelCallConfig", () => {
  it("is the deployment's endpoint with the step's model, or null when no model is configured", () => {
    expect(modelCallConfig({ ...env, LLM_MODEL: "", LLM_BASE_URL: "" } as Env)).toBeNull();
    expect(modelCallConfig({ ...env, LLM_MODEL: "m1", LLM_BASE_URL: "http://h/v1" } as Env, "m2")).toMatchObject({
      kind: "openai-compatible",
      model: "m2",
      baseURL: "http://h/v1",
    });
  });
});
