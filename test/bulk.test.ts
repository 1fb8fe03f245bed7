// Bulk jobs: a BulkJob object pages through the read model and acts on each matching run. The
// test drives its alarm itself (runDurableObjectAlarm), page by page, instead of waiting for it.
import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, inject, it, vi } from "vitest";
import type { RunResource } from "../src/durable/run/run-view";
import { api, errorOf, getRun, newApiKey, SETTLE, uniq, waitForRun } from "./helpers";
import { shardDb } from "./read-model";

const upstream = inject("upstreamUrl");

interface Job {
  job_id: string;
  status: "running" | "completed";
  matched: number;
  done: number;
  failed: number;
  failures: { run_id: string; code: string }[];
}

/** Runs made in one batch for `key`'s tenant; answers once the read model shows them all in `status`. */
async function startRuns(key: string, runs: unknown[], tenant: string, status: string): Promise<string[]> {
  const res = await api("/runs/batch", { method: "POST", json: { runs }, key });
  expect(res.status).toBe(207);
  const ids = ((await res.json()) as { results: RunResource[] }).results.map((r) => r.run_id);
  expect(ids.every((id) => typeof id === "string")).toBe(true);
  await vi.waitFor(async () => {
    const row = await shardDb(tenant).prepare("SELECT count(*) AS n FROM runs WHERE tenant = ? AND status = ?").bind(tenant, status).first<{ n: number }>();
    expect(row!.n, `runs ${status} in the read model`).toBe(ids.length);
  }, SETTLE);
  return ids;
}

async function getJob(jobId: string, key: string): Promise<Job> {
  const res = await api(`/jobs/${jobId}`, { key });
  expect(res.status).toBe(200);
  return (await res.json()) as Job;
}

/** Starts the job, then runs its alarm page by page until it says it is completed; the pages it took. */
async function runJob(key: string, body: unknown): Promise<{ job: Job; pages: number }> {
  const res = await api("/runs/bulk", { method: "POST", json: body, key });
  const { job_id } = (await res.json()) as { job_id: string };
  expect(res.status).toBe(202);
  expect(job_id).toMatch(/^job_[0-9a-f]{32}$/);
  const stub = env.BULK_JOBS.getByName(job_id);
  let pages = 0;
  const job = await vi.waitFor(async () => {
    const now = await getJob(job_id, key);
    if (now.status === "completed") return now;
    // The runtime may have fired the alarm itself just now; then there is nothing to run yet.
    if (await runDurableObjectAlarm(stub)) pages++;
    throw new Error(`job ${job_id} is ${now.status} after ${pages} pages`);
  }, SETTLE);
  return { job, pages };
}

const waitForSignal = { plan: { steps: [{ step_number: 1, tool: "Wait.signal", input: { name: "never" } }] } };

describe("POST /runs/bulk", () => {
  it("cancels 50 waiting runs, page by page, and only the caller's", async () => {
    const tenant = `bulk-${uniq()}`;
    const { secret } = await newApiKey(tenant);
    const ids = await startRuns(
      secret,
      Array.from({ length: 50 }, () => waitForSignal),
      tenant,
      "waiting",
    );
    // Another tenant's waiting run, which the job must not touch.
    const other = await api("/runs", { method: "POST", json: waitForSignal });
    const otherId = ((await other.json()) as RunResource).run_id;

    const { job, pages } = await runJob(secret, { action: "cancel", filter: { status: "waiting" } });
    expect(job).toMatchObject({ status: "completed", matched: 50, done: 50, failed: 0 });
    // 25 a page: two full pages, then one that finds nothing more.
    expect(pages).toBe(3);
    for (const id of ids) expect((await getRun(id, secret)).status).toBe("cancelled");
    expect((await getRun(otherId)).status).toBe("waiting");
    await api(`/runs/${otherId}/cancel`, { method: "POST" });

    // Another tenant cannot see the job.
    expect((await api(`/jobs/${job.job_id}`)).status).toBe(404);
    expect((await api(`/jobs/job_nope`, { key: secret })).status).toBe(404);
  });

  it("reruns failed runs matched by error code and tool, each from its first failed step", async () => {
    const tenant = `bulk-${uniq()}`;
    const { secret } = await newApiKey(tenant);
    const k = uniq();
    // Each run's step 2 fails once (404, not retried), then its upstream answers 200.
    const failing = (i: number) => ({
      plan: {
        steps: [
          { step_number: 1, tool: "Http.get", input: { url: `${upstream}/flaky/r1-${k}-${i}?fail=0` } },
          { step_number: 2, tool: "Http.get", input: { url: `${upstream}/flaky/r2-${k}-${i}?fail=1&status=404` }, depends_on: [1] },
        ],
      },
      options: { on_failure: "stop" },
    });
    const calcFails = { plan: { steps: [{ step_number: 1, tool: "Calculator.evaluate", input: { expression: "1 / 0" } }] } };
    const ids = await startRuns(secret, [failing(1), failing(2), failing(3)], tenant, "failed");
    const [calc] = await startRunsAnyStatus(secret, [calcFails]);

    const { job } = await runJob(secret, { action: "rerun", filter: { error_code: "upstream_rejected", tool: "Http.get" } });
    expect(job).toMatchObject({ status: "completed", matched: 3, done: 3, failed: 0 });
    // A rerun reaches D1 when it ends, or 2 s after its creation if still in flight (CREATION_ROW_DELAY_MS).
    const reruns = await vi.waitFor(async () => {
      const rows = await shardDb(tenant)
        .prepare("SELECT run_id, rerun_of FROM runs WHERE tenant = ? AND rerun_of IS NOT NULL")
        .bind(tenant)
        .all<{ run_id: string; rerun_of: string }>();
      expect(rows.results.map((r) => r.rerun_of).sort()).toEqual([...ids].sort());
      return rows;
    }, SETTLE);
    for (const r of reruns.results) {
      const run = await waitForRun(r.run_id, undefined, 20_000, secret);
      // Step 1 is reused; step 2 (the upstream now answers 200 for that key) runs again.
      expect(run).toMatchObject({ status: "completed", rerun_of: r.rerun_of });
      expect(run.execution_log[0]).toMatchObject({ status: "succeeded", attempts: 0 });
    }
    for (const i of [1, 2, 3]) expect(await (await fetch(`${upstream}/hits/flaky/r1-${k}-${i}`)).json()).toEqual({ hits: 1 });
    expect((await getRun(calc!, secret)).rerun_of).toBeNull();
  });

  it("refuses an empty filter, a status the action does not act on, and an unknown action", async () => {
    for (const [body, code] of [
      [{ action: "cancel", filter: {} }, "validation_failed"],
      [{ action: "cancel", filter: { status: "completed" } }, "status_not_actionable"],
      [{ action: "delete", filter: { status: "failed" } }, "validation_failed"],
      [{ action: "resume", filter: { created_after: "yesterday" } }, "validation_failed"],
    ] as const) {
      const res = await api("/runs/bulk", { method: "POST", json: body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect((await errorOf(res)).code).toBe(code);
    }
  });
});

async function startRunsAnyStatus(key: string, runs: unknown[]): Promise<string[]> {
  const res = await api("/runs/batch", { method: "POST", json: { runs }, key });
  return ((await res.json()) as { results: RunResource[] }).results.map((r) => r.run_id);
}
