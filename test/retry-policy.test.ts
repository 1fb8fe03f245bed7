import { describe, expect, it, vi } from "vitest";
import { backoffDelay, decideRetry, retriability } from "../src/execution/retry-policy";
import { DEFAULT_OPTIONS, type ResolvedOptions } from "../src/execution/run-options";
import { stepError } from "../src/execution/step-error";

const options = (o: Partial<ResolvedOptions> = {}): ResolvedOptions => ({
  ...DEFAULT_OPTIONS,
  max_attempts: 5,
  initial_delay_ms: 100,
  max_delay_ms: 1000,
  ...o,
});

const retryable = (retry_after_ms?: number) => stepError("upstream_error", "boom", retry_after_ms === undefined ? {} : { retry_after_ms });
const permanent = stepError("upstream_rejected", "no");

/** A deterministic stand-in for Math.random: a small linear congruential generator in [0, 1). */
function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe("retriability", () => {
  it("is not retryable when the error says so", () => {
    expect(retriability(permanent)).toEqual({ retryable: false });
    expect(retriability(stepError("upstream_rejected", "y", { retry_after_ms: 5000 }))).toEqual({ retryable: false });
  });

  it("is retryable, carrying Retry-After when there is one", () => {
    expect(retriability(retryable())).toEqual({ retryable: true });
    expect(retriability(retryable(2500))).toEqual({ retryable: true, retryAfterMs: 2500 });
    expect(retriability(retryable(0))).toEqual({ retryable: true, retryAfterMs: 0 });
  });
});

describe("decideRetry: whether to retry", () => {
  it("does not retry a non-retryable error, however many attempts remain", () => {
    const random = vi.fn(() => 0.5);
    expect(decideRetry(permanent, 1, options({ max_attempts: 10 }), random)).toEqual({ retry: false, reason: "not_retryable" });
    expect(random).not.toHaveBeenCalled();
  });

  it("reports not_retryable rather than exhausted when both hold", () => {
    expect(decideRetry(permanent, 5, options({ max_attempts: 5 }))).toEqual({ retry: false, reason: "not_retryable" });
  });

  it("retries until the attempt that failed is the last allowed one", () => {
    const o = options({ max_attempts: 3 });
    expect(decideRetry(retryable(), 1, o, () => 0.5).retry).toBe(true);
    expect(decideRetry(retryable(), 2, o, () => 0.5).retry).toBe(true);
    expect(decideRetry(retryable(), 3, o, () => 0.5)).toEqual({ retry: false, reason: "attempts_exhausted" });
    expect(decideRetry(retryable(), 4, o, () => 0.5)).toEqual({ retry: false, reason: "attempts_exhausted" });
  });

  it("never retries when only one attempt is allowed", () => {
    expect(decideRetry(retryable(), 1, options({ max_attempts: 1 }))).toEqual({ retry: false, reason: "attempts_exhausted" });
  });

  it("is exhausted even when the upstream asked to be retried later", () => {
    expect(decideRetry(retryable(10_000), 5, options({ max_attempts: 5 }))).toEqual({ retry: false, reason: "attempts_exhausted" });
  });
});

describe("backoffDelay: exponential with full jitter", () => {
  const o = options({ initial_delay_ms: 100, max_delay_ms: 100_000 });

  it("doubles the ceiling with each attempt, starting at initial_delay_ms", () => {
    // random() → 1 gives the ceiling itself.
    expect([1, 2, 3, 4, 5].map((a) => backoffDelay(a, o, () => 1))).toEqual([100, 200, 400, 800, 1600]);
  });

  it("spreads the delay uniformly between 0 and the ceiling", () => {
    expect(backoffDelay(3, o, () => 0)).toBe(0);
    expect(backoffDelay(3, o, () => 0.5)).toBe(200);
    expect(backoffDelay(3, o, () => 0.25)).toBe(100);
    expect(backoffDelay(3, o, () => 0.999_999)).toBe(400);
  });

  it("returns whole milliseconds", () => {
    expect(backoffDelay(1, options({ initial_delay_ms: 3 }), () => 0.5)).toBe(2); // 1.5 rounds to 2
    expect(backoffDelay(1, options({ initial_delay_ms: 3 }), () => 0.1)).toBe(0); // 0.3 rounds to 0
  });

  it("stays within [0, ceiling] for many random draws", () => {
    const random = seeded(42);
    for (let attempt = 1; attempt <= 12; attempt++) {
      const ceiling = Math.min(o.max_delay_ms, o.initial_delay_ms * 2 ** (attempt - 1));
      const delays = Array.from({ length: 200 }, () => backoffDelay(attempt, o, random));
      for (const d of delays) {
        expect(Number.isInteger(d)).toBe(true);
        expect(d).toBeGreaterThanOrEqual(0);
        expect(d).toBeLessThanOrEqual(ceiling);
      }
      // Jitter really spreads: the draws cover much of the range rather than clustering at the top.
      expect(Math.min(...delays)).toBeLessThan(ceiling * 0.1);
      expect(Math.max(...delays)).toBeGreaterThan(ceiling * 0.9);
    }
  });

  it("uses Math.random by default and stays in bounds", () => {
    for (let i = 0; i < 100; i++) {
      const d = backoffDelay(2, o);
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThanOrEqual(200);
    }
  });

  it("caps the ceiling at max_delay_ms", () => {
    const capped = options({ initial_delay_ms: 500, max_delay_ms: 3000 });
    expect(backoffDelay(3, capped, () => 1)).toBe(2000);
    expect(backoffDelay(4, capped, () => 1)).toBe(3000);
    expect(backoffDelay(30, capped, () => 1)).toBe(3000);
    expect(backoffDelay(1000, capped, () => 1)).toBe(3000);
    expect(backoffDelay(30, capped, () => 0.5)).toBe(1500);
  });

  it("treats attempts below 1 like the first", () => {
    expect(backoffDelay(0, o, () => 1)).toBe(100);
    expect(backoffDelay(-3, o, () => 1)).toBe(100);
  });

  it("retries at once when initial_delay_ms is 0", () => {
    expect(backoffDelay(5, options({ initial_delay_ms: 0 }), () => 0.9)).toBe(0);
  });
});

describe("decideRetry: the delay", () => {
  it("is the jittered backoff when there is no Retry-After", () => {
    const o = options({ initial_delay_ms: 100, max_delay_ms: 10_000 });
    expect(decideRetry(retryable(), 1, o, () => 0.5)).toEqual({ retry: true, delay_ms: 50 });
    expect(decideRetry(retryable(), 3, o, () => 0.5)).toEqual({ retry: true, delay_ms: 200 });
    expect(decideRetry(retryable(), 4, o, () => 1)).toEqual({ retry: true, delay_ms: 800 });
  });

  it("is capped at max_delay_ms when there is no Retry-After", () => {
    const o = options({ max_attempts: 50, initial_delay_ms: 100, max_delay_ms: 700 });
    expect(decideRetry(retryable(), 40, o, () => 1)).toEqual({ retry: true, delay_ms: 700 });
    const random = seeded(7);
    for (let i = 0; i < 200; i++) {
      const d = decideRetry(retryable(), 20, o, random);
      expect(d.retry).toBe(true);
      if (d.retry) expect(d.delay_ms).toBeLessThanOrEqual(700);
    }
  });

  it("honours Retry-After as a floor above the jittered delay", () => {
    const o = options({ initial_delay_ms: 100, max_delay_ms: 10_000 });
    expect(decideRetry(retryable(5000), 1, o, () => 0.5)).toEqual({ retry: true, delay_ms: 5000 });
    // Even above max_delay_ms: the upstream said not before then.
    expect(decideRetry(retryable(60_000), 1, o, () => 1)).toEqual({ retry: true, delay_ms: 60_000 });
  });

  it("keeps the jittered delay when it is already longer than Retry-After", () => {
    const o = options({ initial_delay_ms: 1000, max_delay_ms: 10_000 });
    expect(decideRetry(retryable(300), 2, o, () => 0.5)).toEqual({ retry: true, delay_ms: 1000 });
    expect(decideRetry(retryable(0), 2, o, () => 0.5)).toEqual({ retry: true, delay_ms: 1000 });
  });

  it("never goes below Retry-After for any random draw", () => {
    const o = options({ max_attempts: 10, initial_delay_ms: 100, max_delay_ms: 2000 });
    const random = seeded(99);
    for (let attempt = 1; attempt < 10; attempt++) {
      for (let i = 0; i < 50; i++) {
        const d = decideRetry(retryable(750), attempt, o, random);
        expect(d.retry).toBe(true);
        if (d.retry) {
          expect(d.delay_ms).toBeGreaterThanOrEqual(750);
          expect(d.delay_ms).toBeLessThanOrEqual(Math.max(750, Math.min(2000, 100 * 2 ** (attempt - 1))));
        }
      }
    }
  });

  it("draws the jitter from the injected random once per decision", () => {
    const random = vi.fn(() => 0.25);
    decideRetry(retryable(), 2, options({ initial_delay_ms: 400, max_delay_ms: 10_000 }), random);
    expect(random).toHaveBeenCalledTimes(1);
  });
});
