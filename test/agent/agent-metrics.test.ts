// GET /metrics' LLM counters, from agent runs against the scripted model server: calls, tokens and
// dollars by tenant and model, the same before the rollup takes the runs (the tail) and after.
// This file has its own D1, so every number below comes from the runs it makes.
import { env, exports } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { rollUpMetrics } from "../../src/scheduled/roll-up-metrics";
import { registerScript } from "../llm/scripted-model-client";
import { ADMIN_TOKEN, api, newApiKey, SETTLE, uniq, waitForRun } from "../helpers";
import { countOnEveryShard, rowOnAnyShard } from "../read-model";

const modelUrl = env.SCRIPTED_MODEL_URL;
/** Priced in the agent project's LLM_PRICES: $1000 per million input tokens, $2000 per million output. */
const PRICED = "priced-metrics";
const FAMILIES = ["crane_llm_calls_total", "crane_llm_input_tokens_total", "crane_llm_output_tokens_total", "crane_llm_cost_usd_total"];

async function runAgent(key: string, model: string): Promise<void> {
  const res = await api("/runs", { method: "POST", key, json: { agent: { goal: "add one and one, then answer", model, tools: ["Calculator.evaluate"] } } });
  expect(res.status, await res.clone().text()).toBe(201);
  const { run_id } = (await res.json()) as { run_id: string };
  expect((await waitForRun(run_id, undefined, 20_000, key)).status).toBe("completed");
  // The run's end reaches D1 just after it ends.
  await vi.waitFor(async () => {
    const row = await rowOnAnyShard<{ status: string }>("SELECT status FROM runs WHERE run_id = ?", run_id);
    expect(row?.status).toBe("completed");
  }, SETTLE);
}

/** The LLM counters of a scrape, as "family tenant model" → value. */
async function llmCounters(): Promise<Record<string, number>> {
  const res = await exports.default.fetch(new Request("http://crane.test/metrics", { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }));
  expect(res.status).toBe(200);
  const text = await res.text();
  for (const family of FAMILIES) expect(text).toContain(`# TYPE ${family} counter`);
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^(crane_llm_\w+)\{tenant="([^"]*)",model="([^"]*)"\} (\S+)$/gm)) out[`${m[1]} ${m[2]} ${m[3]}`] = Number(m[4]);
  return out;
}

describe("GET /metrics: LLM usage", () => {
  it("counts agent steps' model calls, tokens and cost by tenant and model, exactly, before and after the rollup", async () => {
    const [a, b] = [`llm-a-${uniq()}`, `llm-b-${uniq()}`];
    const [keyA, keyB] = [(await newApiKey(a)).secret, (await newApiKey(b)).secret];
    const unpriced = `agent-${uniq()}`;
    await registerScript(modelUrl, unpriced, [
      { tool_calls: [{ name: "Calculator.evaluate", arguments: { expression: "1+1" } }], usage: { prompt_tokens: 100, completion_tokens: 10 } },
      { text: "2", usage: { prompt_tokens: 200, completion_tokens: 20 } },
    ]);
    await registerScript(modelUrl, PRICED, [{ text: "2", usage: { prompt_tokens: 1000, completion_tokens: 500 } }]);

    await runAgent(keyA, unpriced);
    await runAgent(keyA, unpriced);
    await runAgent(keyA, PRICED);
    await runAgent(keyB, unpriced);

    const expected = {
      [`crane_llm_calls_total ${a} ${unpriced}`]: 4,
      [`crane_llm_input_tokens_total ${a} ${unpriced}`]: 600,
      [`crane_llm_output_tokens_total ${a} ${unpriced}`]: 60,
      [`crane_llm_cost_usd_total ${a} ${unpriced}`]: 0,
      [`crane_llm_calls_total ${a} ${PRICED}`]: 1,
      [`crane_llm_input_tokens_total ${a} ${PRICED}`]: 1000,
      [`crane_llm_output_tokens_total ${a} ${PRICED}`]: 500,
      // 1000 tokens at $1000 per million, and 500 at $2000 per million.
      [`crane_llm_cost_usd_total ${a} ${PRICED}`]: 2,
      [`crane_llm_calls_total ${b} ${unpriced}`]: 2,
      [`crane_llm_input_tokens_total ${b} ${unpriced}`]: 300,
      [`crane_llm_output_tokens_total ${b} ${unpriced}`]: 30,
      [`crane_llm_cost_usd_total ${b} ${unpriced}`]: 0,
    };
    // Nothing rolled up yet: every count comes from the tail.
    expect(await llmCounters()).toEqual(expected);
    await rollUpMetrics(env);
    const n = await countOnEveryShard("SELECT count(*) AS n FROM metric_llm");
    expect(n).toBe(3);
    // Now from the rollup, and the same.
    expect(await llmCounters()).toEqual(expected);
  });
});
