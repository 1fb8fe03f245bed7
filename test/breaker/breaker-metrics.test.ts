// GET /metrics shows each breaker's state and transitions from D1's breaker_states, which the
// breaker writes at each transition: a scrape sends no request to any breaker.
import { env, exports } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import { breakerRow, publishBreakerState } from "../../src/durable/breaker/breaker-record";
import { initialBreaker, type BreakerState } from "../../src/durable/breaker/breaker-state";
import { DEFAULT_BREAKER } from "../../src/durable/breaker/breaker-config";
import { breakerName, type ToolBreaker } from "../../src/durable/breaker/tool-breaker";
import { ADMIN_TOKEN, SETTLE, uniq } from "../helpers";

const tool = "Http.get";

/** One sample's value from a scrape, or undefined when the series is not there. */
async function scrape(): Promise<(name: string, labels: Record<string, string>) => number | undefined> {
  const res = await exports.default.fetch(new Request("http://crane.test/metrics", { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }));
  expect(res.status).toBe(200);
  const text = await res.text();
  return (name, labels) => {
    const want = Object.entries(labels)
      .map(([k, v]) => `${k}="${v}"`)
      .join(",");
    const line = text.split("\n").find((l) => l.startsWith(`${name}{${want}}`));
    return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
  };
}

const row = (tenant: string, t = tool) =>
  env.DB.prepare("SELECT state, to_closed, to_open, to_half_open, version FROM breaker_states WHERE tenant = ? AND tool = ?").bind(tenant, t).first();

describe("breaker_states", () => {
  it("is written by the breaker at each transition, and /metrics reads it without asking the breaker", async () => {
    const tenant = `bm-${uniq()}`;
    const stub = env.BREAKERS.getByName(breakerName(tenant, tool));
    expect(await row(tenant)).toBeNull();
    for (let i = 0; i < 3; i++) await stub.record(tool, { verdict: "dependency_failure", probe: false });
    expect(await row(tenant)).toEqual({ state: "open", to_closed: 0, to_open: 1, to_half_open: 0, version: 1 });

    const before = (await stub.status(tool)).requests;
    let value = await scrape();
    expect(value("crane_breaker_state", { tenant, tool })).toBe(2);
    expect(value("crane_breaker_transitions_total", { tenant, tool, to: "open" })).toBe(1);
    // The scrape asked the breaker nothing: the only request since is this status call.
    expect((await stub.status(tool)).requests).toBe(before + 1);

    // The numbers are the table's: changed there, the scrape shows the change, the breaker untouched.
    await env.DB.prepare("UPDATE breaker_states SET to_open = 41, state = 'half_open' WHERE tenant = ? AND tool = ?").bind(tenant, tool).run();
    value = await scrape();
    expect(value("crane_breaker_state", { tenant, tool })).toBe(1);
    expect(value("crane_breaker_transitions_total", { tenant, tool, to: "open" })).toBe(41);
    expect((await stub.status(tool)).state).toBe("open");

    // The next transition writes the breaker's own totals over it.
    await stub.reset(tool);
    expect(await row(tenant)).toEqual({ state: "closed", to_closed: 1, to_open: 1, to_half_open: 0, version: 2 });
    value = await scrape();
    expect(value("crane_breaker_state", { tenant, tool })).toBe(0);
    expect(value("crane_breaker_transitions_total", { tenant, tool, to: "closed" })).toBe(1);
  });

  it("is written by a breaker whose transitions never were (made before the table) on its first request", async () => {
    const tenant = `bm-${uniq()}`;
    const stub = env.BREAKERS.getByName(breakerName(tenant, tool));
    await stub.status(tool);
    await runInDurableObject(stub, (b: ToolBreaker) => {
      const s = (b as unknown as { state: BreakerState }).state;
      s.transitions = { closed: 2, open: 3, half_open: 2 };
      delete s.published;
    });
    expect(await row(tenant)).toBeNull();
    await stub.status(tool);
    await vi.waitFor(async () => expect(await row(tenant)).toEqual({ state: "closed", to_closed: 2, to_open: 3, to_half_open: 2, version: 7 }), SETTLE);
  });

  it("keeps the newer of two writes that cross", async () => {
    const tenant = `bm-${uniq()}`;
    const s = initialBreaker(DEFAULT_BREAKER);
    s.state = "open";
    s.transitions = { closed: 1, open: 2, half_open: 1 };
    await publishBreakerState(env.DB, breakerRow(tenant, tool, s, Date.now()));
    const older = { ...s, state: "half_open" as const, transitions: { closed: 1, open: 1, half_open: 1 } };
    await publishBreakerState(env.DB, breakerRow(tenant, tool, older, Date.now()));
    expect(await row(tenant)).toMatchObject({ state: "open", to_open: 2, version: 4 });
  });

  it("shows no row of a tool that has no breaker", async () => {
    const tenant = `bm-${uniq()}`;
    const s = { ...initialBreaker(DEFAULT_BREAKER), state: "open" as const, transitions: { closed: 0, open: 1, half_open: 0 } };
    await publishBreakerState(env.DB, breakerRow(tenant, "Nothing.here", s, Date.now()));
    await publishBreakerState(env.DB, breakerRow(tenant, tool, s, Date.now()));
    const value = await scrape();
    expect(value("crane_breaker_state", { tenant, tool: "Nothing.here" })).toBeUndefined();
    expect(value("crane_breaker_state", { tenant, tool })).toBe(2);
  });
});
