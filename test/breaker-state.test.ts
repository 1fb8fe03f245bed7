import { describe, expect, it } from "vitest";
import { DEFAULT_BREAKER, breakerSettings } from "../src/durable/breaker/breaker-config";
import { STEP_ERRORS, countsAgainstDependency, stepError } from "../src/execution/step-error";
import { admit, cooldownOver, initialBreaker, record } from "../src/durable/breaker/breaker-state";

const settings = { ...DEFAULT_BREAKER, failure_threshold: 3, window_min_calls: 10, window_failure_rate: 0.5, cooldown_ms: 1000, max_cooldown_ms: 3000 };
const fail = { verdict: "dependency_failure", probe: false } as const;
const ok = { verdict: "success", probe: false } as const;

describe("breaker state machine", () => {
  it("opens after the configured consecutive failures, not before", () => {
    const s = initialBreaker(settings);
    expect(record(s, 0, settings, fail)).toBeNull();
    expect(record(s, 1, settings, fail)).toBeNull();
    expect(record(s, 2, settings, fail)).toMatchObject({ from: "closed", to: "open" });
    expect(s).toMatchObject({ state: "open", open_until: 1002 });
  });

  it("a success resets the consecutive count", () => {
    const s = initialBreaker(settings);
    record(s, 0, settings, fail);
    record(s, 1, settings, fail);
    record(s, 2, settings, ok);
    record(s, 3, settings, fail);
    expect(s.state).toBe("closed");
  });

  it("opens on the failure rate of a sliding window with enough calls", () => {
    const s = initialBreaker(settings);
    for (let i = 0; i < 9; i++) record(s, i, settings, i % 2 === 1 ? fail : ok); // 4 of 9 failed: too few calls
    expect(s.state).toBe("closed");
    expect(record(s, 9, settings, fail)).toMatchObject({ to: "open" }); // 5 of 10 = 50 %
  });

  it("is never opened by a success, even one that fills the window", () => {
    const s = initialBreaker(settings);
    for (let i = 0; i < 9; i++) record(s, i, settings, i % 2 === 0 ? fail : ok); // 5 of 9 failed
    expect(record(s, 9, settings, ok)).toBeNull(); // 5 of 10, but the call succeeded
    expect(s.state).toBe("closed");
    expect(record(s, 10, settings, fail)).toMatchObject({ to: "open" }); // 6 of 11
  });

  it("forgets calls that left the window", () => {
    const s = initialBreaker(settings);
    for (let i = 0; i < 9; i++) record(s, i, settings, i % 2 === 0 ? fail : ok);
    record(s, settings.window_ms + 100, settings, ok);
    expect(s.state).toBe("closed");
    expect(s.window).toHaveLength(1);
  });

  it("ignores neutral outcomes (bad input says nothing about the dependency)", () => {
    const s = initialBreaker(settings);
    for (let i = 0; i < 20; i++) record(s, i, settings, { verdict: "neutral", probe: false });
    expect(s).toMatchObject({ state: "closed", consecutive_failures: 0, window: [] });
  });

  it("refuses calls while open, half-opens after the cooldown, admits one probe", () => {
    const s = initialBreaker(settings);
    for (let i = 0; i < 3; i++) record(s, 0, settings, fail);
    expect(admit(s, 500, settings).admission).toEqual({ allowed: false, retry_at: 1000 });
    const first = admit(s, 1000, settings);
    expect(first.transition).toMatchObject({ from: "open", to: "half_open" });
    expect(first.admission).toEqual({ allowed: true, probe: true });
    expect(admit(s, 1001, settings).admission.allowed).toBe(false);
  });

  it("closes after a good probe and resets the cooldown", () => {
    const s = initialBreaker(settings);
    for (let i = 0; i < 3; i++) record(s, 0, settings, fail);
    admit(s, 1000, settings);
    expect(record(s, 1001, settings, { ...ok, probe: true })).toMatchObject({ to: "closed" });
    expect(s).toMatchObject({ state: "closed", cooldown_ms: 1000, probes_in_flight: 0 });
  });

  it("reopens with the cooldown doubled after a bad probe, up to the maximum", () => {
    const s = initialBreaker(settings);
    for (let i = 0; i < 3; i++) record(s, 0, settings, fail);
    const cooldowns: number[] = [];
    let now = 0;
    for (let i = 0; i < 3; i++) {
      now = s.open_until!;
      admit(s, now, settings);
      record(s, now, settings, { ...fail, probe: true });
      cooldowns.push(s.cooldown_ms);
    }
    expect(cooldowns).toEqual([2000, 3000, 3000]);
    expect(s.state).toBe("open");
  });

  it("a neutral probe gives its slot back and stays half-open", () => {
    const s = initialBreaker(settings);
    for (let i = 0; i < 3; i++) record(s, 0, settings, fail);
    admit(s, 1000, settings);
    expect(record(s, 1001, settings, { verdict: "released", probe: true })).toBeNull();
    expect(admit(s, 1002, settings).admission).toEqual({ allowed: true, probe: true });
  });

  it("cooldownOver does nothing before the cooldown ends", () => {
    const s = initialBreaker(settings);
    for (let i = 0; i < 3; i++) record(s, 0, settings, fail);
    expect(cooldownOver(s, 999)).toBeNull();
    expect(cooldownOver(s, 1000)).toMatchObject({ to: "half_open" });
  });

  it("reads per-tool settings from BREAKER_CONFIG and falls back on bad config", () => {
    const raw = JSON.stringify({ "*": { failure_threshold: 7 }, "Http.get": { cooldown_ms: 2000 } });
    expect(breakerSettings(raw, "Http.get")).toMatchObject({ failure_threshold: 7, cooldown_ms: 2000 });
    expect(breakerSettings(raw, "TodoStore.add")).toMatchObject({ failure_threshold: 7, cooldown_ms: DEFAULT_BREAKER.cooldown_ms });
    expect(breakerSettings("{not json", "x")).toEqual(DEFAULT_BREAKER);
    expect(breakerSettings(JSON.stringify({ "*": { failure_threshold: -1 } }), "x")).toEqual(DEFAULT_BREAKER);
  });

  it("counts timeouts, 5xx and connection errors, not bad input or 4xx", () => {
    for (const code of ["step_timeout", "upstream_timeout", "upstream_unreachable", "upstream_error"]) expect(countsAgainstDependency(code)).toBe(true);
    for (const code of ["invalid_input", "upstream_rejected", "host_not_allowed", "division_by_zero", "todo_not_found"])
      expect(countsAgainstDependency(code)).toBe(false);
    expect(countsAgainstDependency("not_a_code")).toBe(false);
  });
});

describe("the step error table", () => {
  it("derives retryable from the code, so no creation site can get it wrong", () => {
    expect(stepError("upstream_error", "x")).toEqual({ code: "upstream_error", message: "x", retryable: true });
    expect(stepError("upstream_rejected", "x").retryable).toBe(false);
    expect(stepError("upstream_rate_limited", "x", { retry_after_ms: 20 })).toMatchObject({ retryable: true, retry_after_ms: 20 });
  });

  it("never counts a failure that cannot be retried against the dependency", () => {
    for (const [code, policy] of Object.entries(STEP_ERRORS)) if (policy.countsAgainstDependency) expect(policy.retryable, code).toBe(true);
  });
});
