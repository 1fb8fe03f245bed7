import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { forgetHealth } from "../src/api/health";
import { api } from "./helpers";

interface Health {
  status: string;
  checks: Record<string, string>;
  queue?: { backlog_count: number; backlog_bytes: number; oldest_message_age_ms: number | null };
  not_checked: Record<string, string>;
  checked_at: string;
}

const health = async () => {
  const res = await api("/health", { key: null });
  return { status: res.status, body: (await res.json()) as Health, cacheControl: res.headers.get("cache-control") };
};

afterEach(() => forgetHealth());

describe("GET /health", () => {
  it("asks the queue service for real (its backlog), and names what it cannot check", async () => {
    forgetHealth();
    const { status, body } = await health();
    expect(status).toBe(200);
    expect(body.checks.queue).toBe("ok");
    expect(body.queue).toMatchObject({ backlog_count: expect.any(Number), backlog_bytes: expect.any(Number) });
    expect(Object.keys(body.not_checked)).toContain("queue_consumer");
  });

  it("answers from its last check for a few seconds, so unauthenticated requests do not reach D1 each time", async () => {
    forgetHealth();
    const first = await health();
    expect(first.status).toBe(200);
    expect(first.cacheControl).toMatch(/max-age=\d+/);
    await env.DB.exec("ALTER TABLE runs RENAME TO runs_away");
    try {
      // D1 would fail now: the cached answer is given, unchanged.
      const second = await health();
      expect(second.status).toBe(200);
      expect(second.body.checked_at).toBe(first.body.checked_at);
      // Once the cache is gone, the check runs again and sees the fault.
      forgetHealth();
      const third = await health();
      expect(third.status).toBe(503);
      expect(third.body.checks.d1).toBe("failing");
    } finally {
      await env.DB.exec("ALTER TABLE runs_away RENAME TO runs");
    }
  });
});
