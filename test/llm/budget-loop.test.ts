import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { StepBudget } from "../../src/llm/budget";
import { callModel } from "../../src/llm/model-call";
import { prepareNextCall, type Calibration } from "../../src/llm/next-call";
import { costOf, type ModelPrice } from "../../src/llm/prices";
import type { RecordedTurn } from "../../src/llm/transcript";
import type { Usage } from "../../src/llm/usage";
import type { LlmConfig } from "../../src/planner/llm/llm-config";
import { registerScript, scriptRecord } from "./scripted-model-client";

// A loop of model calls under a step budget, against the scripted server (which reports about one
// prompt token per 4 bytes and never more completion tokens than max_tokens): no call the server
// receives may have a worst case (what was spent, plus its prompt, plus its output cap) over budget.
const url = env.SCRIPTED_MODEL_URL;
const config = (model: string): LlmConfig => ({ kind: "openai-compatible", model, baseURL: `${url}/v1`, budgetMs: 10_000 });
const calculator = {
  name: "Calculator.evaluate",
  description: "Evaluates arithmetic",
  input_schema: { type: "object", properties: { expression: { type: "string" } }, required: ["expression"] },
};
const PRICE: ModelPrice = { input_per_million: 1, output_per_million: 4 };

async function runLoop(budget: StepBudget, price?: ModelPrice) {
  const model = `budget-${crypto.randomUUID()}`;
  const turn = (i: number) => ({
    text: `Étape ${i} : je calcule encore. `.repeat(8),
    tool_calls: [{ id: `c${i}`, name: "Calculator__evaluate", arguments: { expression: `${i} + 1` } }],
    usage: { completion_tokens: 300 },
  });
  await registerScript(
    url,
    model,
    Array.from({ length: 12 }, (_, i) => turn(i)),
  );
  const turns: RecordedTurn[] = [];
  const usages: Usage[] = [];
  let spent: Usage = { input_tokens: 0, output_tokens: 0 };
  let calibration: Calibration | undefined;
  let stop: string | undefined;
  for (let t = 0; t < 12 && !stop; t++) {
    const next = prepareNextCall({ goal: "keep calculating", turns, model, tools: [calculator], budget, spent, price, calibration });
    if (!next.ok) {
      stop = next.reason;
      break;
    }
    const outcome = await callModel(config(model), env, next.input);
    if (!outcome.ok) throw new Error(outcome.error.message);
    const { usage } = outcome.result;
    usages.push(usage);
    spent = { input_tokens: spent.input_tokens + usage.input_tokens, output_tokens: spent.output_tokens + usage.output_tokens };
    calibration = { input_tokens: usage.input_tokens, prompt_bytes: next.prompt_bytes };
    turns.push({
      text: outcome.result.text,
      calls: outcome.result.tool_calls.map((c) => ({ tool: c.name, input: c.input, outcome: { status: "succeeded" as const, output: t + 1 } })),
    });
  }
  return { stop, spent, usages, record: await scriptRecord(url, model) };
}

describe("a step's budget over a loop of model calls", () => {
  it("stops before a call whose worst case would cross the token budget", async () => {
    const { stop, spent, usages, record } = await runLoop({ max_tokens: 6000 });
    expect(stop).toBe("tokens");
    expect(record.requests.length).toBeGreaterThanOrEqual(3);
    expect(record.requests.length).toBe(usages.length);
    let before = 0;
    for (const [i, request] of record.requests.entries()) {
      expect(before + usages[i]!.input_tokens + request.max_tokens!).toBeLessThanOrEqual(6000);
      before += usages[i]!.input_tokens + usages[i]!.output_tokens;
    }
    expect(spent.input_tokens + spent.output_tokens).toBeLessThanOrEqual(6000);
    // The budget, not the default of 4096, set the last call's output cap.
    expect(record.requests.at(-1)!.max_tokens).toBeLessThan(4096);
  });

  it("stops before a call whose worst case would cross the dollar budget", async () => {
    const maxUsd = 0.012;
    const { stop, spent, usages, record } = await runLoop({ max_cost_usd: maxUsd }, PRICE);
    expect(stop).toBe("cost");
    expect(record.requests.length).toBeGreaterThanOrEqual(3);
    let before = 0;
    for (const [i, request] of record.requests.entries()) {
      const worst = costOf(PRICE, { input_tokens: usages[i]!.input_tokens, output_tokens: request.max_tokens! });
      expect(before + worst).toBeLessThanOrEqual(maxUsd + 1e-12);
      before += costOf(PRICE, usages[i]!);
    }
    expect(costOf(PRICE, spent)).toBeLessThanOrEqual(maxUsd);
  });
});
