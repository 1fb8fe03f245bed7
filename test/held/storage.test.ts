import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { RunObject } from "../../src/durable/run/run-object";
import { api, createRun } from "../helpers";
import { stub } from "./harness";

// What a run object keeps in its SQLite. Each table is created by its first write: a new run pays
// for the tables it uses, and a request for a run that does not exist leaves nothing behind.

async function tables(runId: string): Promise<string[]> {
  return runInDurableObject(stub(runId), (_instance: RunObject, state) =>
    state.storage.sql
      .exec<{ name: string }>(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
      .toArray()
      .map((r) => r.name)
      .filter((name) => !name.startsWith("_cf_")),
  );
}

describe("run object storage", () => {
  it("a request for a run that does not exist writes nothing", async () => {
    const runId = `run_${crypto.randomUUID().replaceAll("-", "")}`;
    for (const path of [`/runs/${runId}`, `/runs/${runId}/events`, `/runs/${runId}/usage`]) {
      const res = await api(path);
      expect(res.status, path).toBe(404);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("run_not_found");
    }
    expect((await api(`/runs/${runId}/watch-token`, { method: "POST" })).status).toBe(404);
    expect(await tables(runId)).toEqual([]);
    expect(await runInDurableObject(stub(runId), (_i: RunObject, state) => state.storage.getAlarm())).toBeNull();
  });

  it("a run keeps its events and its bookkeeping, and a watch token adds its own table", async () => {
    const run = await createRun({ prompt: "calculate 6 * 7" });
    expect(run.status).toBe("completed");
    await expect.poll(() => tables(run.run_id)).toEqual(["bookkeeping", "event_rows"]);
    expect((await api(`/runs/${run.run_id}/watch-token`, { method: "POST" })).status).toBe(201);
    expect(await tables(run.run_id)).toEqual(["bookkeeping", "event_rows", "watch_tokens"]);
  });
});
