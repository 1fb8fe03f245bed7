// Every limit is in UTF-8 bytes, tried with text that is three bytes a character: counted in
// characters, each of these would pass a limit it is far over.
import { describe, expect, it } from "vitest";
import { report } from "../src/durable/run/domain/decide";
import { MAX_BUFFERED_SIGNALS, signal } from "../src/durable/run/domain/human-input";
import { emptyState } from "../src/durable/run/domain/state";
import { webhookRun } from "../src/durable/run/effects/run-webhooks";
import { batches } from "../src/durable/run/effects/step-sender";
import { MAX_MESSAGE_INPUT_BYTES, stepMessage, type StepMessage } from "../src/execution/step-protocol";
import { byteLength } from "../src/lib/bytes";
import { RESULT_LIMIT_BYTES } from "../src/durable/webhooks/notice";
import { at, begin, options } from "./decider-harness";

/** `n` characters of Chinese text: 3n bytes. */
const han = (n: number) => "汉".repeat(n);
const fields = { run_id: "run_x", tenant: "t", step: 1, attempt: 1, dispatch: 1, tool: "Http.get", timeout_ms: 1000, lease_until: 1, trace_id: "x" };

describe("limits counted in bytes", () => {
  it("counts a character of Chinese as three bytes", () => {
    expect(byteLength(han(10))).toBe(30);
  });

  it("leaves an input out of the queue message once its bytes, not its characters, pass the limit", () => {
    const chars = Math.floor(MAX_MESSAGE_INPUT_BYTES / 2); // under the limit in characters, over it in bytes
    expect(stepMessage(fields, { text: han(chars) }).input).toBeUndefined();
    expect(stepMessage(fields, { text: "a".repeat(chars) }).input).toEqual({ text: "a".repeat(chars) });
  });

  it("splits a send batch by bytes: three 90 KB messages do not share one 240 KiB batch", () => {
    const big = (step: number): StepMessage => ({ ...stepMessage({ ...fields, step }, null), input: { text: han(30_000) } });
    expect(batches([big(1), big(2), big(3)]).map((b) => b.length)).toEqual([2, 1]);
  });

  it("leaves a run's result out of its webhook once it is over 64 KiB in bytes", () => {
    const state = { ...emptyState(), status: "completed" as const, result: han(Math.floor(RESULT_LIMIT_BYTES / 2)) };
    expect(webhookRun(state)).toMatchObject({ result: null, result_truncated: true });
  });
});

describe("a step's output cap", () => {
  const fetched = (bytesPerChar: "ascii" | "han", chars: number) => {
    const { run } = begin([{ step_number: 1, tool: "Http.get", input: { url: "https://example.com/" } }], options({ on_failure: "stop" }));
    const body = bytesPerChar === "han" ? han(chars) : "a".repeat(chars);
    run.command(at(10), (m) => report(m, [{ step: 1, dispatch: run.step(1).dispatch_seq!, outcome: { success: true, output: { body } } }]));
    return run;
  };

  it("fails a step whose output is over max_output_bytes (256 KiB by default) with output_too_large naming the size", () => {
    const run = fetched("han", 100_000); // 100,000 characters, 300,000 bytes
    expect(run.step(1)).toMatchObject({ status: "failed", error: { code: "output_too_large" } });
    expect(run.step(1).error!.message).toContain("300011 bytes");
    expect(run.state.status).toBe("failed");
  });

  it("records an output under the cap", () => {
    const run = fetched("ascii", 100_000);
    expect(run.step(1).status).toBe("succeeded");
  });
});

describe("signals kept for later", () => {
  it("refuses the signal past the limit of untaken signals, and keeps no payload in memory once a step took it", () => {
    const { run } = begin([
      { step_number: 1, tool: "Wait.signal", input: { name: "go" } },
      { step_number: 2, tool: "Wait.signal", input: { name: "later" } },
    ]);
    // The waiting step takes the first; a hundred others are kept.
    expect(run.command(at(1), (m) => signal(m, "go", "taken")).result).toMatchObject({ ok: true, delivered_to: 1 });
    expect(run.state.signals[0]).toMatchObject({ taken_by: 1, payload: null });
    expect(run.step(1).output).toBe("taken");
    for (let i = 0; i < MAX_BUFFERED_SIGNALS; i++) expect(run.command(at(2), (m) => signal(m, `other-${i}`, i)).result).toMatchObject({ ok: true });
    expect(run.command(at(3), (m) => signal(m, "one-more", 0)).result).toMatchObject({ ok: false, code: "too_many_signals" });
  });
});
