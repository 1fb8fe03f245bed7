import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { adminLlmBudgetApi } from "../../src/api/admin-llm-budget";
import { nextUtcDay, type LlmBudget, type LlmBudgetEnv } from "../../src/durable/llm-budget/llm-budget";

const bindings = env as unknown as Env & LlmBudgetEnv;
const budget = () => bindings.LLM_BUDGET.getByName(`tenant-${crypto.randomUUID().slice(0, 8)}`);
const DAY = "2026-12-07";

describe("LlmBudget", () => {
  it("grants 20 concurrent reservations only up to the cap, never over it", async () => {
    const b = budget();
    await b.setCap(1);
    // 20 calls of $0.13 against $1: exactly 7 fit ($0.91), whatever order they arrive in.
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => b.reserve(`call-${i}`, 0.13, DAY)));
    const granted = results.filter((r) => r.granted);
    expect(granted).toHaveLength(7);
    const status = await b.status(DAY);
    expect(status.committed_usd).toBeCloseTo(0.91, 9);
    expect(status.committed_usd).toBeLessThanOrEqual(1);
    for (const refused of results.filter((r) => !r.granted)) expect(refused).toMatchObject({ denied: true, retry_at: "2026-12-08T00:00:00.000Z", cap_usd: 1 });
  });

  it("holds the cap under concurrent reservations of mixed sizes and settlements", async () => {
    const b = budget();
    await b.setCap(0.5);
    const sizes = Array.from({ length: 20 }, (_, i) => 0.01 + ((i * 37) % 11) * 0.009);
    const results = await Promise.all(
      sizes.map(async (usd, i) => {
        const r = await b.reserve(`k${i}`, usd, DAY);
        // Half of the granted calls turn out cheaper than reserved, which frees cap for others.
        if (r.granted && i % 2 === 0) await b.settle(`k${i}`, usd / 4);
        return r;
      }),
    );
    const status = await b.status(DAY);
    expect(status.committed_usd).toBeLessThanOrEqual(0.5);
    expect(results.some((r) => !r.granted)).toBe(true);
  });

  it("is idempotent by key: a repeated reservation or settlement changes nothing", async () => {
    const b = budget();
    await b.setCap(1);
    expect(await b.reserve("a", 0.6, DAY)).toMatchObject({ granted: true, reserved_usd: 0.6 });
    expect(await b.reserve("a", 0.6, DAY)).toMatchObject({ granted: true, reserved_usd: 0.6 });
    expect((await b.status(DAY)).committed_usd).toBeCloseTo(0.6, 9);
    expect(await b.settle("a", 0.1)).toEqual({ settled: true, actual_usd: 0.1, released_usd: 0.5 });
    expect(await b.settle("a", 0.3)).toEqual({ settled: true, actual_usd: 0.1, released_usd: 0.5 });
    expect(await b.status(DAY)).toMatchObject({ committed_usd: 0.1, outstanding_reservations: 0 });
    expect(await b.settle("never-reserved", 0.1)).toEqual({ settled: false, reason: "unknown_key" });
  });

  it("releases the unused part on settle, so a refused call fits afterwards", async () => {
    const b = budget();
    await b.setCap(1);
    await b.reserve("big", 0.9, DAY);
    expect(await b.reserve("next", 0.5, DAY)).toMatchObject({ granted: false });
    await b.settle("big", 0.2);
    expect(await b.reserve("next", 0.5, DAY)).toMatchObject({ granted: true });
  });

  it("counts each UTC day apart, and refuses until the next one", async () => {
    const b = budget();
    await b.setCap(0.1);
    expect(await b.reserve("d1", 0.1, DAY)).toMatchObject({ granted: true });
    expect(await b.reserve("d1b", 0.000000001, DAY)).toMatchObject({ granted: false, retry_at: nextUtcDay(DAY) });
    expect(await b.reserve("d2", 0.1, "2026-12-08")).toMatchObject({ granted: true });
    expect(nextUtcDay("2026-12-31")).toBe("2027-01-01T00:00:00.000Z");
  });

  it("grants everything without a cap, and a raised cap lets a refused call through", async () => {
    const b = budget();
    expect(await b.reserve("x", 1000, DAY)).toMatchObject({ granted: true, cap_usd: null });
    await b.setCap(1000);
    expect(await b.reserve("y", 1, DAY)).toMatchObject({ granted: false });
    await b.setCap(1001);
    expect(await b.reserve("y", 1, DAY)).toMatchObject({ granted: true });
  });

  it("keeps amounts exactly, in nano-dollars, across many tiny calls", async () => {
    const b = budget();
    await b.setCap(0.000003);
    const results = await Promise.all(Array.from({ length: 5 }, (_, i) => b.reserve(`t${i}`, 0.000001, DAY)));
    expect(results.filter((r) => r.granted)).toHaveLength(3);
  });

  it("refuses a negative amount or a malformed day", async () => {
    const b = budget();
    await b.setCap(1);
    expect(await b.reserve("n", -1, DAY)).toEqual({ granted: false, invalid: "A reservation is a finite amount of USD ≥ 0, not -1." });
    expect(await b.reserve("n", Number.NaN, DAY)).toMatchObject({ granted: false, invalid: expect.stringContaining("NaN") });
    expect(await b.reserve("n", 0.1, "7 Dec")).toMatchObject({ granted: false, invalid: expect.stringContaining("YYYY-MM-DD") });
    expect(await b.reserve("n", 0.1, "2026-13-45")).toMatchObject({ granted: false, invalid: expect.stringContaining("YYYY-MM-DD") });
    await b.reserve("ok", 0.1, DAY);
    expect(await b.settle("ok", -0.5)).toMatchObject({ settled: false, reason: "invalid" });
    // Nothing invalid was written.
    await runInDurableObject(b, (_instance: LlmBudget, state) => {
      expect(
        state.storage.sql
          .exec<{ key: string }>("SELECT key FROM reservations")
          .toArray()
          .map((r) => r.key),
      ).toEqual(["ok"]);
    });
  });
});

describe("PUT /admin/tenants/{tenant}/llm-budget", () => {
  const put = (tenant: string, body: unknown) =>
    adminLlmBudgetApi.request(
      `/tenants/${tenant}/llm-budget`,
      { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify(body) },
      env,
    );

  it("sets the cap the tenant's reservations meet", async () => {
    const tenant = `t-${crypto.randomUUID().slice(0, 8)}`;
    const res = await put(tenant, { usd_per_day: 2.5 });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ tenant, usd_per_day: 2.5, committed_usd: 0 });
    const b = bindings.LLM_BUDGET.getByName(tenant);
    expect(await b.reserve("k", 2.6, DAY)).toMatchObject({ granted: false, cap_usd: 2.5 });
    const got = await adminLlmBudgetApi.request(`/tenants/${tenant}/llm-budget`, {}, env);
    expect(await got.json()).toMatchObject({ tenant, usd_per_day: 2.5 });
  });

  it("answers 400 in the one error shape for a bad cap or tenant", async () => {
    for (const [tenant, body] of [
      ["t1", { usd_per_day: -1 }],
      ["t1", { usd_per_day: "5" }],
      ["t1", { usd_per_day: 1, extra: true }],
      ["Not A Tenant", { usd_per_day: 1 }],
    ] as const) {
      const res = await put(tenant, body);
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ error: { code: expect.any(String), message: expect.any(String) } });
    }
  });
});
