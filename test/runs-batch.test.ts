// POST /runs/batch: each item is started as POST /runs would start it, in order, with its own
// idempotency key; a bad item is answered in its place and refuses nothing else.
import { describe, expect, it } from "vitest";
import type { RunResource } from "../src/durable/run/run-view";
import { api, errorOf, uniq } from "./helpers";

type Result = RunResource | { error: { code: string; message: string; details?: unknown } };
const calc = (expression: string) => ({ plan: { steps: [{ step_number: 1, tool: "Calculator.evaluate", input: { expression } }] } });

async function batch(runs: unknown): Promise<Result[]> {
  const res = await api("/runs/batch", { method: "POST", json: { runs } });
  const body = (await res.json()) as { results: Result[] };
  expect(res.status, JSON.stringify(body)).toBe(207);
  return body.results;
}

describe("POST /runs/batch", () => {
  it("answers one result per item, in order: runs for the good ones, the usual error for the bad ones", async () => {
    const key = `batch-${uniq()}`;
    const results = await batch([
      calc("1 + 1"),
      { prompt: 42 },
      { ...calc("2 * 3"), idempotency_key: key },
      { plan: { steps: [{ step_number: 1, tool: "No.such", input: {} }] } },
      { prompt: "calculate 5 + 5" },
      { prompt: "x", plan: calc("1").plan },
    ]);
    expect(results).toHaveLength(6);
    expect(results[0]).toMatchObject({ status: "completed", result: 2 });
    expect(results[1]).toMatchObject({ error: { code: "validation_failed", details: [expect.objectContaining({ path: ["prompt"] })] } });
    expect(results[2]).toMatchObject({ status: "completed", result: 6 });
    expect(results[3]).toMatchObject({ error: { code: "invalid_plan", details: [expect.objectContaining({ code: "unknown_tool" })] } });
    expect(results[4]).toMatchObject({ status: "completed", result: 10 });
    expect(results[5]).toMatchObject({ error: { code: "validation_failed" } });
    const ids = results.flatMap((r) => ("run_id" in r ? [r.run_id] : []));
    expect(new Set(ids).size).toBe(3);
    // Each run exists as POST /runs would have made it.
    for (const id of ids) expect((await api(`/runs/${id}`)).status).toBe(200);
  });

  it("replays an item's idempotency key, refuses its reuse with another body, and agrees with POST /runs' header", async () => {
    const key = `batch-${uniq()}`;
    const [first] = await batch([{ ...calc("7 * 6"), idempotency_key: key }]);
    const again = await batch([calc("1 + 2"), { ...calc("7 * 6"), idempotency_key: key }, { ...calc("7 * 7"), idempotency_key: key }]);
    expect((again[1] as RunResource).run_id).toBe((first as RunResource).run_id);
    expect((again[0] as RunResource).run_id).not.toBe((first as RunResource).run_id);
    expect(again[2]).toMatchObject({ error: { code: "idempotency_conflict", details: { run_id: (first as RunResource).run_id } } });
    // The same key and body through POST /runs is the same request.
    const viaHeader = await api("/runs", { method: "POST", json: calc("7 * 6"), headers: { "idempotency-key": key } });
    expect(viaHeader.status).toBe(200);
    expect(((await viaHeader.json()) as RunResource).run_id).toBe((first as RunResource).run_id);
  });

  it("refuses more than 100 items, an empty list and a list that is not one, as a whole", async () => {
    const tooMany = await api("/runs/batch", { method: "POST", json: { runs: Array.from({ length: 101 }, () => calc("1")) } });
    expect(tooMany.status).toBe(400);
    expect((await errorOf(tooMany)).code).toBe("validation_failed");
    for (const runs of [[], { prompt: "x" }, "calculate 1 + 1"]) {
      const res = await api("/runs/batch", { method: "POST", json: { runs } });
      expect(res.status).toBe(400);
      expect((await errorOf(res)).code).toBe("validation_failed");
    }
    const extra = await api("/runs/batch", { method: "POST", json: { runs: [calc("1")], wait: 3 } });
    expect(extra.status).toBe(400);
  });

  it("takes 100 items", async () => {
    const results = await batch(Array.from({ length: 100 }, (_, i) => calc(`${i} + 1`)));
    expect(results.map((r) => (r as RunResource).result)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
  });
});
