// A page of a run's events is bounded in bytes as well as in count, so a few large outputs cannot
// outgrow the RPC answer and the HTTP response that carry the page.
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { RunObject } from "../../src/durable/run/run-object";
import type { RunEvent } from "../../src/durable/run/domain/events";
import { api, createRun } from "../helpers";
import { stub } from "./harness";

type Log = { after(seq: number, limit: number, maxBytes?: number): RunEvent[] };

describe("event pages", () => {
  it("stops a page at the bytes it may hold, always giving at least the first row, and the next page goes on from there", async () => {
    // Two commands, so two rows: the create (run.created … step.waiting) and the signal.
    const run = await createRun({ plan: { steps: [{ step_number: 1, tool: "Wait.signal", input: { name: "go" } }] } });
    expect((await api(`/runs/${run.run_id}/signals/go`, { method: "POST", json: { payload: "界".repeat(1000) } })).status).toBe(202);
    const pages = await runInDurableObject(stub(run.run_id), (instance: RunObject) => {
      const log = (instance as unknown as { log: Log }).log;
      const all = log.after(0, 100);
      const first = log.after(0, 100, 100); // 100 bytes: less than any row
      const rest = log.after(first.at(-1)!.seq, 100, 100);
      return { all: all.map((e) => e.seq), first: first.map((e) => e.seq), rest: rest.map((e) => e.seq) };
    });
    expect(pages.first.length).toBeGreaterThan(0);
    expect(pages.first.length).toBeLessThan(pages.all.length);
    expect([...pages.first, ...pages.rest]).toEqual(pages.all);
  });
});
