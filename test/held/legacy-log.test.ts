import { env } from "cloudflare:workers";
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { RunObject } from "../../src/durable/run/run-object";
import { DEV_TENANT } from "../../src/auth/api-keys";
import { getRun } from "../helpers";
import { advanceClock, deliver, events, sentMessages, stub, watchdog } from "./harness";

// Logs written by earlier versions of the run object: one SQLite row per event (schema version 1),
// the claim-based protocol's step.queued, and runs made before tenants existed. They must still
// fold, and a run caught mid-flight by the upgrade must carry on under today's protocol.

const newRunId = () => `run_${crypto.randomUUID().replaceAll("-", "")}`;
const T = Date.now() - 1000;
const at = (ms: number) => new Date(T + ms).toISOString();

/** Writes `rows` as version 1 did, into a fresh object, then evicts it so it starts from storage. */
async function seedV1(runId: string, rows: { type: string; data: unknown }[]): Promise<void> {
  const s = stub(runId);
  await runInDurableObject(s, (_instance: RunObject, state) => {
    const sql = state.storage.sql;
    sql.exec(`DROP TABLE IF EXISTS event_rows`);
    // Version 1's tables, as it created them.
    sql.exec(`CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`);
    sql.exec(`CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, type TEXT NOT NULL, at TEXT NOT NULL, data TEXT NOT NULL)`);
    sql.exec(`INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', '1')`);
    rows.forEach((r, i) => sql.exec(`INSERT INTO events (seq, type, at, data) VALUES (?, ?, ?, ?)`, i + 1, r.type, at(i), JSON.stringify(r.data)));
  });
  await evictDurableObject(s);
}

const created = (runId: string, tenant?: string) => ({
  type: "run.created",
  data: {
    run_id: runId,
    ...(tenant !== undefined ? { tenant } : {}),
    prompt: "add a todo to upgrade",
    options: {},
    request_hash: "h",
    trace_id: "0af7651916cd43dd8448eb211c80319c",
  },
});
const plan = {
  type: "plan.accepted",
  data: {
    plan: {
      plan_id: "plan_1",
      planner: "rules",
      steps: [{ step_number: 1, tool: "TodoStore.add", input: { title: "upgraded" }, depends_on: [], reasoning: "" }],
    },
  },
};

describe("a version 1 event log", () => {
  it("folds, and a step queued under the claim protocol is dispatched again under the lease protocol", async () => {
    const runId = newRunId();
    await seedV1(runId, [
      created(runId, DEV_TENANT),
      plan,
      { type: "run.started", data: {} },
      { type: "step.queued", data: { step: 1, attempt: 1, dispatch_deadline: T + 500 } },
    ]);
    const before = await getRun(runId);
    expect(before.status).toBe("running");
    expect(before.execution_log[0]!.status).toBe("queued");
    // Its claim-era message is gone with the old protocol: the watchdog dispatches it anew.
    await advanceClock(runId, 1000);
    await watchdog(runId);
    const [msg] = await sentMessages(runId);
    expect(msg).toMatchObject({ v: 2, step: 1, attempt: 1, input: { title: "upgraded" } });
    await deliver(msg!);
    const done = await getRun(runId);
    expect(done.status).toBe("completed");
    expect(done.execution_log[0]).toMatchObject({ status: "succeeded", attempts: 1 });
    // Old and new rows read back as one gap-free log.
    const seqs = (await events(runId)).map((e) => e.seq);
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
  });

  it("folds a run made before tenants existed, which belongs to nobody", async () => {
    const runId = newRunId();
    await seedV1(runId, [created(runId), plan, { type: "run.started", data: {} }]);
    expect(await env.RUNS.getByName(runId).getRun(DEV_TENANT)).toBeNull();
    expect(await env.RUNS.getByName(runId).getRun("")).toBeNull();
    expect(await env.RUNS.getByName(runId).status()).toBe("running");
  });
});
