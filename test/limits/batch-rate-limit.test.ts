import { describe, expect, it } from "vitest";
import { api, newApiKey } from "../helpers";

// This project's API_RATE_LIMIT allows 5 requests per key per 10 s window (see vitest.config.ts).
const LIMIT = 5;
const PERIOD_MS = 10_000;

/** Windows are aligned to the clock: start early in a fresh one so it cannot roll over midway. */
async function freshWindow(): Promise<void> {
  const into = Date.now() % PERIOD_MS;
  if (into > 1000) await new Promise((r) => setTimeout(r, PERIOD_MS - into + 50));
}

const calc = { plan: { steps: [{ step_number: 1, tool: "Calculator.evaluate", input: { expression: "1 + 1" } }] } };

describe("a batch of runs against the key's rate limit", () => {
  it("counts each item: items past the budget are refused in their result, and the key is spent", async () => {
    const { secret: key } = await newApiKey(`batch-limits-${crypto.randomUUID().slice(0, 8)}`, "limits");
    await freshWindow();
    const res = await api("/runs/batch", { method: "POST", json: { runs: Array.from({ length: 8 }, () => calc) }, key });
    expect(res.status).toBe(207);
    const { results } = (await res.json()) as { results: ({ run_id: string } | { error: { code: string; details: { retry_after_s: number } } })[] };
    const started = results.filter((r) => "run_id" in r);
    const refused = results.flatMap((r) => ("run_id" in r ? [] : [r.error]));
    expect(started).toHaveLength(LIMIT);
    expect(refused.map((e) => e.code)).toEqual(["rate_limited", "rate_limited", "rate_limited"]);
    expect(refused[0]!.details.retry_after_s).toBeGreaterThanOrEqual(1);
    // The batch used the key's whole budget: the next request waits for the window.
    expect((await api("/tools", { key })).status).toBe(429);
  });
});
