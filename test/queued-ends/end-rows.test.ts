// READ_MODEL_END_ROWS = "queued" (this project's setting; wrangler.toml ships "direct"): a run's
// end reaches D1 through its read-model queue, batched, and the run writes no statement of its own,
// so one tenant is no longer bound by its one D1 shard (docs/architecture.md, "Scale"). An end row
// too big for a queue message still goes straight to D1.
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, inject, it, vi } from "vitest";
import type { ReadModelMessage } from "../../src/db/run-rows";
import { allReadModelQueues, endRowsQueued } from "../../src/durable/run/effects/read-model-queue";
import { fnv1a32 } from "../../src/lib/fnv";
import { api, createRun, SETTLE, waitForRun } from "../helpers";
import { rowOnAnyShard } from "../read-model";

const upstream = inject("upstreamUrl");

async function usage(runId: string) {
  return (await (await api(`/runs/${runId}/usage`)).json()) as { d1_statements: number; read_model_rows: number };
}

const stored = (runId: string) => rowOnAnyShard<{ status: string; result: string | null }>("SELECT status, result FROM runs WHERE run_id = ?", runId);

/** A run whose one step fetches `bytes` bytes of `char` from the local upstream, and so ends with that text as its result. */
const fetchPlan = (bytes: number, char: string) => ({
  plan: { steps: [{ step_number: 1, tool: "Http.get", input: { url: `${upstream}/big?bytes=${bytes}&char=${encodeURIComponent(char)}` } }] },
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe("READ_MODEL_END_ROWS = queued", () => {
  it("is this project's setting", () => {
    expect(endRowsQueued(env)).toBe(true);
  });

  it("sends a calculation's end through its run's read-model queue: no D1 statement of the run's own, listed once the batch lands", async () => {
    const queues = allReadModelQueues(env);
    const sends = queues.map((q) => vi.spyOn(q, "send"));
    const run = await createRun({ prompt: "what is 6 * 7" });
    expect(run.status).toBe("completed");
    const own = fnv1a32(run.run_id) % queues.length;
    const sent = (q: number) => sends[q]!.mock.calls.filter(([m]) => (m as ReadModelMessage).row[0] === run.run_id);
    await vi.waitFor(() => expect(sent(own)).toHaveLength(1), SETTLE);
    expect(sent(1 - own)).toHaveLength(0);
    expect((sent(own)[0]![0] as ReadModelMessage).row[3]).toBe("completed");
    await vi.waitFor(async () => expect(await stored(run.run_id)).toMatchObject({ status: "completed", result: "42" }), SETTLE);
    expect(await usage(run.run_id)).toMatchObject({ d1_statements: 0, read_model_rows: 1 });
    const listed = (await (await api("/runs?status=completed&limit=100")).json()) as { runs: { run_id: string }[] };
    expect(listed.runs.map((r) => r.run_id)).toContain(run.run_id);
  });

  it("queues an end row of 30,000 non-ASCII bytes, and writes one of 150,000 straight to D1", async () => {
    const small = await createRun(fetchPlan(30_000, "語"));
    const big = await createRun(fetchPlan(150_000, "語"));
    for (const run of [small, big]) expect((await waitForRun(run.run_id)).status).toBe("completed");
    await vi.waitFor(async () => expect((await stored(small.run_id))?.status).toBe("completed"), SETTLE);
    await vi.waitFor(async () => expect((await stored(big.run_id))?.status).toBe("completed"), SETTLE);
    // Whole: the text as the step fetched it.
    expect((await stored(big.run_id))!.result).toContain("語".repeat(49_000));
    expect(await usage(small.run_id)).toMatchObject({ d1_statements: 0 });
    expect(await usage(big.run_id)).toMatchObject({ d1_statements: 1 });
  });
});
