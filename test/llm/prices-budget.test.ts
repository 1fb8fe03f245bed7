import { describe, expect, it } from "vitest";
import { estimatePromptTokens, planCall, reservationUsd, unenforceableBudget } from "../../src/llm/budget";
import { costOf, LlmConfigurationError, parsePrices, priceOf } from "../../src/llm/prices";

const PRICE = { input_per_million: 1, output_per_million: 4 };
const none = { input_tokens: 0, output_tokens: 0 };

describe("LLM_PRICES", () => {
  it("parses a model → price table", () => {
    const prices = parsePrices('{"m": {"input_per_million": 0.15, "output_per_million": 0.6}}');
    expect(priceOf(prices, "m")).toEqual({ input_per_million: 0.15, output_per_million: 0.6 });
    expect(priceOf(prices, "other")).toBeUndefined();
    expect(priceOf(prices, "toString")).toBeUndefined();
    expect(parsePrices("")).toEqual({});
    expect(parsePrices(undefined)).toEqual({});
  });

  it("refuses bad JSON and bad shapes with a configuration error that says what is wrong", () => {
    expect(() => parsePrices("{nope")).toThrow(LlmConfigurationError);
    expect(() => parsePrices("{nope")).toThrow(/LLM_PRICES is not JSON/);
    expect(() => parsePrices('{"m": {"input_per_million": -1, "output_per_million": 1}}')).toThrow(/m\.input_per_million/);
    expect(() => parsePrices('{"m": {"input": 1}}')).toThrow(LlmConfigurationError);
    expect(() => parsePrices("[1]")).toThrow(LlmConfigurationError);
  });

  it("costs a usage per million tokens", () => {
    expect(costOf(PRICE, { input_tokens: 1_000_000, output_tokens: 500_000 })).toBe(3);
    expect(costOf(PRICE, { input_tokens: 1, output_tokens: 1 })).toBeCloseTo(0.000005, 12);
  });
});

describe("a step's budget before a call", () => {
  it("caps the output at the tokens left after the prompt", () => {
    const plan = planCall({ budget: { max_tokens: 1000 }, spent: { input_tokens: 300, output_tokens: 100 }, prompt_tokens: 400, price: undefined });
    expect(plan).toEqual({ ok: true, max_tokens: 200, worst_case: { input_tokens: 400, output_tokens: 200 }, worst_case_usd: null });
  });

  it("makes no call whose worst case would cross the token budget", () => {
    const plan = planCall({ budget: { max_tokens: 1000 }, spent: { input_tokens: 500, output_tokens: 100 }, prompt_tokens: 390, price: undefined });
    expect(plan).toMatchObject({ ok: false, reason: "tokens" });
  });

  it("caps the output at the dollars left, and refuses a call the prompt alone would overspend", () => {
    // A $0.01 budget with $0.002 spent (2000 input tokens at $1 per million).
    const spent = { input_tokens: 2000, output_tokens: 0 };
    const plan = planCall({ budget: { max_cost_usd: 0.01 }, spent, prompt_tokens: 4000, price: PRICE });
    // left after the prompt: 0.01 - 0.002 - 0.004 = 0.004 → 1000 output tokens at $4/M
    expect(plan).toMatchObject({ ok: true, max_tokens: 1000 });
    if (plan.ok) expect(costOf(PRICE, spent) + plan.worst_case_usd!).toBeLessThanOrEqual(0.01 + 1e-12);
    expect(planCall({ budget: { max_cost_usd: 0.01 }, spent, prompt_tokens: 8001, price: PRICE })).toMatchObject({ ok: false, reason: "cost" });
  });

  it("never plans a call whose worst case crosses either budget (checked over many budgets)", () => {
    for (let i = 0; i < 500; i++) {
      const budget = { max_tokens: 200 + ((i * 7919) % 5000), max_cost_usd: 0.001 + ((i * 104729) % 1000) / 100_000 };
      const spent = { input_tokens: (i * 31) % 3000, output_tokens: (i * 17) % 800 };
      const prompt = 50 + ((i * 13) % 2000);
      const plan = planCall({ budget, spent, prompt_tokens: prompt, price: PRICE });
      if (!plan.ok) continue;
      expect(spent.input_tokens + spent.output_tokens + plan.worst_case.input_tokens + plan.worst_case.output_tokens).toBeLessThanOrEqual(budget.max_tokens);
      expect(costOf(PRICE, spent) + plan.worst_case_usd!).toBeLessThanOrEqual(budget.max_cost_usd + 1e-12);
    }
  });

  it("uses the default output cap without a budget, and reserves the worst case in dollars", () => {
    const plan = planCall({ budget: undefined, spent: none, prompt_tokens: 1000, price: PRICE });
    expect(plan).toMatchObject({ ok: true, max_tokens: 4096 });
    expect(reservationUsd(plan)).toBeCloseTo((1000 * 1 + 4096 * 4) / 1_000_000, 12);
    expect(reservationUsd(planCall({ budget: undefined, spent: none, prompt_tokens: 10, price: undefined }))).toBe(0);
  });

  it("refuses a dollar budget for a model with no price", () => {
    expect(unenforceableBudget({ max_cost_usd: 1 }, "m", undefined)).toMatch(/LLM_PRICES/);
    expect(unenforceableBudget({ max_cost_usd: 1 }, "m", PRICE)).toBeNull();
    expect(unenforceableBudget({ max_tokens: 10 }, "m", undefined)).toBeNull();
  });

  it("estimates a prompt's tokens from its UTF-8 bytes, or from an earlier call's count when that is larger", () => {
    expect(estimatePromptTokens("abcdef")).toBe(2);
    expect(estimatePromptTokens("éééééé")).toBe(4); // 12 bytes
    // An earlier prompt of 300 bytes was 200 tokens: this tokenizer is dense, so 600 bytes ≈ 400.
    expect(estimatePromptTokens("a".repeat(600), { input_tokens: 200, prompt_bytes: 300 })).toBe(400);
    expect(estimatePromptTokens("a".repeat(600), { input_tokens: 10, prompt_bytes: 300 })).toBe(200);
  });
});
