import { describe, expect, it } from "vitest";
import { api, errorOf, newApiKey } from "../helpers";
import { shardDb } from "../read-model";

// This project's API_RATE_LIMIT allows 5 requests per key per 10 s window (see vitest.config.ts).
const LIMIT = 5;
const PERIOD_MS = 10_000;

const newKey = async (tenant: string) => (await newApiKey(tenant, "limits")).secret;

/** Windows are aligned to the clock: start each test early in a fresh one so it cannot roll over midway. */
async function freshWindow(): Promise<void> {
  const into = Date.now() % PERIOD_MS;
  if (into > 1000) await new Promise((r) => setTimeout(r, PERIOD_MS - into + 50));
}

const runCount = async (tenant: string) =>
  (await shardDb(tenant).prepare("SELECT count(*) AS n FROM runs WHERE tenant = ?").bind(tenant).first<{ n: number }>())!.n;

describe("rate limits per API key", () => {
  it("answers 429 with Retry-After and the error shape past the limit, leaves other keys alone, and recovers", async () => {
    const tenant = `limits-${crypto.randomUUID().slice(0, 8)}`;
    const key = await newKey(tenant);
    const other = await newKey(`${tenant}-b`);
    await freshWindow();
    for (let i = 0; i < LIMIT; i++) expect((await api("/tools", { key })).status).toBe(200);

    const limited = await api("/runs", { method: "POST", json: { prompt: "calculate 1 + 1" }, key });
    expect(limited.status).toBe(429);
    const retryAfter = Number(limited.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(10);
    const err = await errorOf(limited);
    expect(err.code).toBe("rate_limited");
    // The rejected create made no run.
    expect(await runCount(tenant)).toBe(0);
    // Another key has its own budget.
    expect((await api("/tools", { key: other })).status).toBe(200);

    await new Promise((r) => setTimeout(r, retryAfter * 1000 + 100));
    const recovered = await api("/runs", { method: "POST", json: { prompt: "calculate 1 + 1" }, key });
    expect(recovered.status).toBe(201);
    expect(await runCount(tenant)).toBe(1);
  });

  it("limits failed authentications per client address", async () => {
    await freshWindow();
    const from = (ip: string) => ({ headers: { "cf-connecting-ip": ip }, key: "crane_wrong" });
    const ip = `198.51.100.${Math.floor(Math.random() * 250) + 1}`;
    for (let i = 0; i < LIMIT; i++) expect((await api("/tools", from(ip))).status).toBe(401);
    const blocked = await api("/tools", from(ip));
    expect(blocked.status).toBe(429);
    expect(blocked.headers.get("retry-after")).toMatch(/^\d+$/);
    // Other addresses, and valid keys from this one, are unaffected.
    expect((await api("/tools", from("203.0.113.7"))).status).toBe(401);
    expect((await api("/tools", { headers: { "cf-connecting-ip": ip } })).status).toBe(200);
  });
});
