// The read-model queue (src/durable/run/effects/read-model-queue.ts, src/queues/read-model-consumer.ts):
// a run in flight sends its row through the queue and its end goes straight to D1, so a run that
// waits for a person writes one D1 statement of its own; the consumer writes a batch's rows in one
// statement per shard, and rows only move forward whatever order they land in.
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import worker from "../src/index";
import { app } from "../src/app";
import { forgetHealth } from "../src/api/health";
import { allShards, shardOf } from "../src/db/shards";
import { isReadModelQueue, READ_MODEL_COLUMNS, type ReadModelMessage, type ReadModelRow } from "../src/db/run-rows";
import { allReadModelQueues, endRowsQueued, readModelQueueFor, ReadModelQueueConfigError, rowFitsQueue } from "../src/durable/run/effects/read-model-queue";
import { fnv1a32 } from "../src/lib/fnv";
import { api, createRun, SETTLE, uniq } from "./helpers";
import { rowOnAnyShard, shardDb } from "./read-model";

const SHARDS = allShards(env).length;

function tenantOn(shard: number): string {
  for (;;) {
    const tenant = `rq-${uniq()}`;
    if (shardOf(tenant, SHARDS) === shard) return tenant;
  }
}

/** A row as a run object sends it: every column, the named ones set. */
function row(fields: { run_id: string; tenant: string; status: string; projected_seq: number; created_at?: string }): ReadModelRow {
  const values: Record<string, string | number | null> = {
    prompt: "prompt: 日本語 ✓",
    planner: "rules",
    step_count: 1,
    created_at: "2026-12-07T20:00:00.000Z",
    expires_at: "2027-01-06T20:00:00.000Z",
    ...fields,
  };
  return READ_MODEL_COLUMNS.map((c) => values[c] ?? null);
}

let sent = 0;

/** Hands messages to the Worker's queue handler as a read-model queue would, with the env given. */
async function consume(bodies: unknown[], withEnv: Env = env, queue = "crane-read-model") {
  const batch = createMessageBatch(
    queue,
    bodies.map((body) => ({ id: `rm-msg-${++sent}`, timestamp: new Date(), attempts: 1, body })),
  );
  const ctx = createExecutionContext();
  await worker.queue(batch as MessageBatch<unknown>, withEnv);
  return { ids: batch.messages.map((m) => m.id), result: await getQueueResult(batch, ctx) };
}

const message = (r: ReadModelRow): ReadModelMessage => ({ v: 1, tenant: r[1] as string, row: r });

/** An env whose shards count the statements they are given, and fail them where asked. */
function countingEnv(failing: number[] = []) {
  const statements = allShards(env).map(() => 0);
  const shards = Object.fromEntries(
    allShards(env).map((db, i) => [
      i === 0 ? "DB" : `DB_${i}`,
      {
        prepare(sql: string) {
          statements[i]! += 1;
          if (failing.includes(i)) throw new Error(`shard ${i} is down`);
          return db.prepare(sql);
        },
      },
    ]),
  );
  return { env: { ...env, ...shards } as Env, statements };
}

async function stored(runId: string) {
  return rowOnAnyShard<{ status: string; projected_seq: number; prompt: string }>("SELECT status, projected_seq, prompt FROM runs WHERE run_id = ?", runId);
}

const approvalPlan = {
  plan: {
    steps: [
      { step_number: 1, tool: "Human.approve", input: { message: "Ship it?", timeout_seconds: 3600 } },
      { step_number: 2, tool: "Calculator.evaluate", input: { expression: "6 * 7" }, depends_on: [1] },
    ],
  },
};

async function usage(runId: string) {
  return (await (await api(`/runs/${runId}/usage`)).json()) as {
    d1_statements: number;
    d1_rows_written: number;
    read_model_rows: number;
    queue_messages: number;
    queued_attempts: number;
  };
}

describe("the read-model queue", () => {
  it("carries a waiting run's row, so the run writes one D1 statement of its own: its end", async () => {
    const run = await createRun(approvalPlan);
    expect(run.status).toBe("waiting");
    // Listed as waiting once the queue's batch landed, with no statement of the run's own.
    await vi.waitFor(async () => {
      const waiting = (await (await api("/runs?status=waiting&limit=100")).json()) as { runs: { run_id: string }[] };
      expect(waiting.runs.map((r) => r.run_id)).toContain(run.run_id);
    }, SETTLE);
    expect(await usage(run.run_id)).toMatchObject({ d1_statements: 0, read_model_rows: 1, queue_messages: 1, queued_attempts: 0 });

    const res = await api(`/runs/${run.run_id}/steps/1/decision`, { method: "POST", json: { decision: "approve" } });
    expect(res.status).toBe(200);
    await vi.waitFor(async () => expect((await stored(run.run_id))?.status).toBe("completed"), SETTLE);
    // Its end updates the row its wait wrote: the row and its entry in the retention sweep's index; the
    // lists' key (tenant, created_at, run_id) is not assigned by the update, so not written again.
    await vi.waitFor(async () => expect(await usage(run.run_id)).toMatchObject({ d1_statements: 1, d1_rows_written: 2, read_model_rows: 1 }), SETTLE);
  });

  it("writes a batch in one statement per shard, the newest row of each run winning in any order", async () => {
    const [a, b] = [`run-${uniq()}`, `run-${uniq()}`];
    const t0 = tenantOn(0);
    const t1 = tenantOn(1);
    const counting = countingEnv();
    const { ids, result } = await consume(
      [
        row({ run_id: a, tenant: t0, status: "waiting", projected_seq: 5 }),
        row({ run_id: b, tenant: t1, status: "running", projected_seq: 3 }),
        // An older row of run a, after its newer one in the same batch.
        row({ run_id: a, tenant: t0, status: "running", projected_seq: 3 }),
      ].map(message),
      counting.env,
    );
    expect(result.explicitAcks.sort()).toEqual([...ids].sort());
    expect(result.retryMessages).toEqual([]);
    expect(counting.statements).toEqual([1, 1]);
    expect(await stored(a)).toEqual({ status: "waiting", projected_seq: 5, prompt: "prompt: 日本語 ✓" });
    expect(await stored(b)).toMatchObject({ status: "running", projected_seq: 3 });
    // Each on its tenant's shard.
    expect(await shardDb(t0).prepare("SELECT run_id FROM runs WHERE tenant = ?").bind(t0).all()).toMatchObject({ results: [{ run_id: a }] });
    expect(await shardDb(t1).prepare("SELECT run_id FROM runs WHERE tenant = ?").bind(t1).all()).toMatchObject({ results: [{ run_id: b }] });
  });

  it("splits a batch whose rows would make one statement's JSON too big, and lands every row whole", async () => {
    // 100 rows, each with a prompt of 4,000 non-ASCII characters (12,000 UTF-8 bytes): about
    // 1.2 MB of JSON in all, past the 900,000 bytes one statement takes, so two statements.
    const tenant = tenantOn(0);
    const prompt = "語".repeat(3_999) + "✓";
    const ids = Array.from({ length: 100 }, (_, i) => `run-${uniq()}-${i}`);
    const counting = countingEnv();
    const rows = ids.map((run_id) => row({ run_id, tenant, status: "waiting", projected_seq: 2 }));
    for (const r of rows) r[READ_MODEL_COLUMNS.indexOf("prompt")] = prompt;
    const { result } = await consume(rows.map(message), counting.env);
    expect(result.retryMessages).toEqual([]);
    expect(result.explicitAcks).toHaveLength(100);
    expect(counting.statements).toEqual([2, 0]);
    const landed = await shardDb(tenant).prepare("SELECT run_id, prompt FROM runs WHERE tenant = ?").bind(tenant).all<{ run_id: string; prompt: string }>();
    expect(landed.results.map((r) => r.run_id).sort()).toEqual([...ids].sort());
    expect(landed.results.every((r) => r.prompt === prompt)).toBe(true);
  });

  it("leaves a run's end in place when a row from before it lands later", async () => {
    const id = `run-${uniq()}`;
    const tenant = tenantOn(0);
    await consume([message(row({ run_id: id, tenant, status: "completed", projected_seq: 9 }))]);
    const { result } = await consume([message(row({ run_id: id, tenant, status: "waiting", projected_seq: 4 }))]);
    expect(result.retryMessages).toEqual([]);
    expect(await stored(id)).toMatchObject({ status: "completed", projected_seq: 9 });
  });

  it("retries the rows of a shard that fails, lands the others, and drops a message that can never be valid", async () => {
    const [ok, down] = [`run-${uniq()}`, `run-${uniq()}`];
    const counting = countingEnv([1]);
    const { ids, result } = await consume(
      [
        message(row({ run_id: ok, tenant: tenantOn(0), status: "waiting", projected_seq: 4 })),
        message(row({ run_id: down, tenant: tenantOn(1), status: "waiting", projected_seq: 4 })),
        { v: 1, row: [] },
      ],
      counting.env,
    );
    expect(result.explicitAcks.sort()).toEqual([ids[0], ids[2]].sort());
    expect(result.retryMessages.map((m) => m.msgId)).toEqual([ids[1]]);
    expect(await stored(ok)).toMatchObject({ status: "waiting" });
    expect(await stored(down)).toBeNull();
    // The queue's retry, with the shard back, lands it.
    await consume([message(row({ run_id: down, tenant: tenantOn(1), status: "waiting", projected_seq: 4 }))]);
    expect(await stored(down)).toMatchObject({ status: "waiting" });
  });
});

afterEach(() => {
  vi.restoreAllMocks();
});

async function health(withEnv: Env) {
  forgetHealth();
  const res = await app.fetch(new Request("http://crane.test/api/v1/health"), withEnv);
  return { status: res.status, body: (await res.json()) as { checks: Record<string, string> } };
}

describe("the read-model queues", () => {
  const queues = allReadModelQueues(env);

  it("are the two wrangler.toml bindings, each run's rows always on the one its id hashes to", () => {
    expect(queues).toEqual([env.READ_MODEL_ROWS, env.READ_MODEL_ROWS_1]);
    const runs = Array.from({ length: 400 }, () => `run-${uniq()}${uniq()}`);
    for (const id of runs) expect(readModelQueueFor(env, id)).toBe(queues[fnv1a32(id) % 2]);
    const onFirst = runs.filter((id) => readModelQueueFor(env, id) === env.READ_MODEL_ROWS).length;
    expect(onFirst).toBeGreaterThan(140);
    expect(onFirst).toBeLessThan(260);
    expect(["crane-read-model", "crane-read-model-1", "crane-read-model-12"].every(isReadModelQueue)).toBe(true);
    expect(["crane-read-model-0", "crane-read-model-", "crane-read-model-held", "crane-steps", "crane-webhooks"].some(isReadModelQueue)).toBe(false);
  });

  it("sends a waiting run's row to its run's queue only, runs on either queue", async () => {
    const sends = queues.map((q) => vi.spyOn(q, "send"));
    const seen = new Set<number>();
    // Run ids are random: waiting runs until one has landed on each queue (2 or 3 runs, most often).
    for (let i = 0; i < 20 && seen.size < 2; i++) {
      const run = await createRun(approvalPlan);
      expect(run.status).toBe("waiting");
      const own = fnv1a32(run.run_id) % 2;
      const sentTo = (q: number) => sends[q]!.mock.calls.filter(([m]) => (m as ReadModelMessage).row[0] === run.run_id).length;
      await vi.waitFor(() => expect(sentTo(own)).toBe(1), SETTLE);
      expect(sentTo(1 - own)).toBe(0);
      seen.add(own);
      await api(`/runs/${run.run_id}/cancel`, { method: "POST" });
    }
    expect(seen.size).toBe(2);
  });

  it("consumes a batch from crane-read-model-1 like one from crane-read-model", async () => {
    const id = `run-${uniq()}`;
    const { ids, result } = await consume([message(row({ run_id: id, tenant: tenantOn(1), status: "waiting", projected_seq: 4 }))], env, "crane-read-model-1");
    expect(result.explicitAcks).toEqual(ids);
    expect(await stored(id)).toMatchObject({ status: "waiting", projected_seq: 4 });
  });

  it("refuses a count that does not match the producers, or an unknown end-row mode, and /health says so", async () => {
    const refused = async (vars: Partial<Record<"READ_MODEL_QUEUE_SHARDS" | "READ_MODEL_END_ROWS", string>>, says: string) => {
      const wrong = { ...env, ...vars } as Env;
      expect(() => (vars.READ_MODEL_END_ROWS ? endRowsQueued(wrong) : allReadModelQueues(wrong))).toThrow(ReadModelQueueConfigError);
      expect(() => (vars.READ_MODEL_END_ROWS ? endRowsQueued(wrong) : allReadModelQueues(wrong))).toThrow(says);
      const h = await health(wrong);
      expect(h.status).toBe(503);
      expect(h.body.checks.queue).toBe("failing");
    };
    await refused({ READ_MODEL_QUEUE_SHARDS: "3" }, "READ_MODEL_QUEUE_SHARDS is 3 but there is no queue producer READ_MODEL_ROWS_2");
    await refused({ READ_MODEL_QUEUE_SHARDS: "1" }, "READ_MODEL_QUEUE_SHARDS is 1 but a queue producer READ_MODEL_ROWS_1 exists");
    await refused({ READ_MODEL_END_ROWS: "sometimes" }, 'READ_MODEL_END_ROWS must be "direct" or "queued", not "sometimes"');
    expect(endRowsQueued(env)).toBe(false);
    expect(endRowsQueued({ ...env, READ_MODEL_END_ROWS: "queued" } as Env)).toBe(true);
    expect((await health(env)).status).toBe(200);
  });

  it("takes a row into a message by its UTF-8 bytes: 120,000 at most", () => {
    const withResult = (result: string) => {
      const r = row({ run_id: `run-${uniq()}`, tenant: "t", status: "completed", projected_seq: 3 });
      r[READ_MODEL_COLUMNS.indexOf("result")] = result;
      return r;
    };
    // 100,000 ASCII characters are 100,000 bytes: they fit, though three bytes a unit would not.
    expect(rowFitsQueue(withResult("x".repeat(100_000)))).toBe(true);
    // 39,000 characters of three bytes each fit; 41,000 do not.
    expect(rowFitsQueue(withResult("語".repeat(39_000)))).toBe(true);
    expect(rowFitsQueue(withResult("語".repeat(41_000)))).toBe(false);
  });
});
