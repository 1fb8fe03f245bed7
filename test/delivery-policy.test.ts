import { describe, expect, it } from "vitest";
import { MAX_ATTEMPTS, backoffMs, verdictOf } from "../src/durable/webhooks/delivery-policy";

// What follows an attempt, decided by one table: the Standard Webhooks retry rules as the issue
// sets them (errors, timeouts and 5xx retried with backoff; 429 at its Retry-After; 410 unsubscribes).
const now = 1_000_000;
const answered = (status_code: number, retry_after_ms?: number) => ({ status_code, error: null, ...(retry_after_ms !== undefined ? { retry_after_ms } : {}) });

describe("the webhook delivery policy", () => {
  it("backs off from 5 s to an hour over 8 attempts", () => {
    expect(MAX_ATTEMPTS).toBe(8);
    expect([1, 2, 3, 4, 5, 6, 7].map(backoffMs)).toEqual([5_000, 15_000, 45_000, 135_000, 405_000, 1_215_000, 3_600_000]);
  });

  it("delivers on 2xx, retries errors, timeouts, 5xx and 408, and gives up after the last attempt", () => {
    expect(verdictOf(answered(200), 1, now)).toEqual({ kind: "delivered" });
    expect(verdictOf(answered(204), 1, now)).toEqual({ kind: "delivered" });
    for (const r of [answered(500), answered(503), answered(408), { status_code: null, error: "no answer within 10 s" }])
      expect(verdictOf(r, 2, now), JSON.stringify(r)).toEqual({ kind: "retry", at: now + 15_000 });
    expect(verdictOf(answered(503), MAX_ATTEMPTS, now)).toEqual({ kind: "failed", reason: "no success in 8 attempts" });
  });

  it("waits for a 429's Retry-After (at most an hour), or backs off without one", () => {
    expect(verdictOf(answered(429, 120_000), 1, now)).toEqual({ kind: "retry", at: now + 120_000 });
    expect(verdictOf(answered(429, 86_400_000), 1, now)).toEqual({ kind: "retry", at: now + 3_600_000 });
    expect(verdictOf(answered(429), 1, now)).toEqual({ kind: "retry", at: now + 5_000 });
  });

  it("unsubscribes on 410, and ends on other 4xx, redirects and refused addresses", () => {
    expect(verdictOf(answered(410), 1, now)).toEqual({ kind: "gone" });
    expect(verdictOf(answered(400), 1, now)).toMatchObject({ kind: "failed" });
    expect(verdictOf(answered(401), 1, now)).toMatchObject({ kind: "failed" });
    expect(verdictOf(answered(302), 1, now)).toEqual({ kind: "failed", reason: "the receiver answered 302" });
    expect(verdictOf({ status_code: null, error: "10.0.0.1:80 is a private address", refused: true }, 1, now)).toMatchObject({ kind: "failed" });
  });
});
