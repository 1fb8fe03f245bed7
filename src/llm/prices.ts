// LLM_PRICES: what each model costs, as JSON, e.g.
//   {"gpt-4o-mini": {"input_per_million": 0.15, "output_per_million": 0.6}}
// (USD per million input and output tokens). A bad value is a configuration error with a sentence
// saying what is wrong, never a crash in the middle of a run.
import { z } from "zod";
import type { Usage } from "./usage";

const priceSchema = z.strictObject({
  input_per_million: z.number().nonnegative().finite(),
  output_per_million: z.number().nonnegative().finite(),
});
export type ModelPrice = z.infer<typeof priceSchema>;

export const pricesSchema = z.record(z.string().min(1), priceSchema);
export type Prices = z.infer<typeof pricesSchema>;

export class LlmConfigurationError extends Error {
  override readonly name = "LlmConfigurationError";
}

/** The price table; unset or empty means no model has a price (so no dollar budget can be set). */
export function parsePrices(raw: string | undefined): Prices {
  if (!raw?.trim()) return {};
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    throw new LlmConfigurationError(`LLM_PRICES is not JSON (${err instanceof Error ? err.message : String(err)}).`);
  }
  const parsed = pricesSchema.safeParse(json);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => `${i.path.map(String).join(".") || "LLM_PRICES"}: ${i.message}`).join("; ");
    throw new LlmConfigurationError(`LLM_PRICES must map each model to {"input_per_million": USD, "output_per_million": USD}: ${detail}.`);
  }
  return parsed.data;
}

export function priceOf(prices: Prices, model: string): ModelPrice | undefined {
  return Object.hasOwn(prices, model) ? prices[model] : undefined;
}

/** USD for tokens at a price; fractions of a cent are kept (sums of many small calls must add up). */
export function costOf(price: ModelPrice, usage: Usage): number {
  return (usage.input_tokens * price.input_per_million + usage.output_tokens * price.output_per_million) / 1_000_000;
}
