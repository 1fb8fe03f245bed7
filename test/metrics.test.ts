import { runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import parsePrometheusTextFormat, { type Family } from "parse-prometheus-text-format";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { app } from "../src/app";
import { METRIC_BOUNDS } from "../src/db/metric-rollups";
import { rollUpMetrics } from "../src/scheduled/roll-up-metrics";
import type { RunResource } from "../src/durable/run/run-view";
import type { RunObject } from "../src/durable/run/run-object";
import { runIdFor } from "../src/durable/run/start-run";
import { DEV_TENANT } from "../src/auth/api-keys";
import { ADMIN_TOKEN, api, createRun, DEV_KEY, newApiKey, pause, uniq, waitForRun } from "./helpers";
import { rowOnAnyShard, shardDb } from "./read-model";

// This file has its own D1, so every number below comes from the runs it makes. Each scenario
// after the first uses a tenant of its own, so its counts are its own.
const upstream = inject("upstreamUrl");

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Every sample of an exposition, labels and all (histograms included, series by series). */
function samples(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[k!] = v!.replace(/\\(.)/g, "$1");
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

async function scrape(): Promise<{ text: string; all: Sample[]; value: (name: string, labels?: Record<string, string>) => number | undefined }> {
  const res = await exports.default.fetch(new Request("http://crane.test/metrics", { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }));
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toContain("text/plain");
  const text = await res.text();
  const all = samples(text);
  const value = (name: string, labels: Record<string, string> = {}) =>
    all.find(
      (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v) && Object.keys(s.labels).length >= Object.keys(labels).length,
    )?.value;
  return { text, all, value };
}

/** Waits until D1 holds each run's row in the given status (its end is projected just after it ends). */
async function projected(ids: string[], status: (id: string) => string): Promise<void> {
  for (const id of ids)
    for (let i = 0; ; i++) {
      const row = await rowOnAnyShard<{ status: string }>("SELECT status FROM runs WHERE run_id = ?", id);
      if (row?.status === status(id)) break;
      if (i > 250) throw new Error(`run ${id} never projected as ${status(id)}`);
      await pause(20);
    }
}

async function runAs(key: string, body: unknown): Promise<RunResource> {
  const res = await api("/runs", { method: "POST", json: body, key });
  expect(res.status).toBeLessThan(300);
  return (await res.json()) as RunResource;
}

const STEPS = JSON.stringify([
  { step_number: 1, tool: "Calculator.evaluate", status: "succeeded", attempts: 1, error_code: null, skip_reason: null, duration_ms: 2 },
  { step_number: 2, tool: "Http.get", status: "failed", attempts: 2, error_code: "upstream_error", skip_reason: null, duration_ms: 40, queue_ms: 3 },
]);

/** STEPS and an agent step that made 3 model calls on model "m-h", as an end projection writes them. */
const WITH_AGENT = JSON.stringify([
  ...(JSON.parse(STEPS) as unknown[]),
  {
    step_number: 3,
    tool: "Agent.run",
    status: "succeeded",
    attempts: 1,
    error_code: null,
    skip_reason: null,
    duration_ms: 30,
    llm: { model: "m-h", calls: 3, input_tokens: 700, output_tokens: 40, cost_nano: 1234 },
  },
]);

/** A run's row as its end projection writes it when it ends inside its create: failed at its second step. */
const endedRow = (tenant: string, steps = STEPS) =>
  shardDb(tenant)
    .prepare(
      `INSERT INTO runs (run_id, tenant, status, planner, fallback_reason, step_count, created_at, started_at, completed_at, projected_seq, steps, projected_at)
     VALUES (?, ?, 'failed', 'rules', 'not_configured', 2, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:01.000Z', 9, ?,
       '2026-01-01T00:00:01.500Z')`,
    )
    .bind(`run_${crypto.randomUUID()}`, tenant, steps);

let families: Family[];

beforeAll(async () => {
  const ids = [
    (await createRun({ prompt: "calculate 1 + 1" })).run_id,
    (await createRun({ prompt: "calculate 2 * 3, then calculate the result + 1" })).run_id,
    (await createRun({ prompt: "calculate 5 / 0" })).run_id,
    (
      await createRun({
        plan: { steps: [{ step_number: 1, tool: "Http.get", input: { url: `${upstream}/flaky/metrics-${crypto.randomUUID()}?fail=1` } }] },
        options: { retry: { max_attempts: 3, initial_delay_ms: 10, max_delay_ms: 20 } },
      })
    ).run_id,
  ];
  const ended = await Promise.all(ids.map((id) => waitForRun(id)));
  await projected(ids, (id) => ended.find((r) => r.run_id === id)!.status);
  families = parsePrometheusTextFormat((await scrape()).text);
});

describe("GET /metrics", () => {
  it("is valid exposition text whose counters, gauges and histograms are typed", () => {
    const type = (name: string) => families.find((f) => f.name === name)?.type;
    expect(type("crane_runs_ended_total")).toBe("COUNTER");
    expect(type("crane_runs_in_flight")).toBe("GAUGE");
    expect(type("crane_step_duration_seconds")).toBe("HISTOGRAM");
    expect(type("crane_breaker_transitions_total")).toBe("COUNTER");
  });

  it("counts runs by tenant and final status, and none in flight", async () => {
    const { value } = await scrape();
    expect(value("crane_runs_started_total", { tenant: "dev" })).toBe(4);
    expect(value("crane_runs_ended_total", { tenant: "dev", status: "completed" })).toBe(3);
    expect(value("crane_runs_ended_total", { tenant: "dev", status: "failed" })).toBe(1);
    expect(value("crane_runs_ended_total", { tenant: "dev", status: "cancelled" })).toBe(0);
    expect(value("crane_runs_in_flight", { tenant: "dev" })).toBe(0);
    expect(value("crane_runs_in_flight_limit")).toBe(Number(env.MAX_RUNS_IN_FLIGHT));
  });

  it("has a run duration histogram over every ended run, with bounds up to weeks", async () => {
    const { value } = await scrape();
    expect(value("crane_run_duration_seconds_count", { tenant: "dev" })).toBe(4);
    expect(value("crane_run_duration_seconds_bucket", { tenant: "dev", le: "+Inf" })).toBe(4);
    expect(value("crane_run_duration_seconds_bucket", { tenant: "dev", le: String(28 * 86400) })).toBe(4);
    expect(value("crane_run_duration_seconds_sum", { tenant: "dev" })).toBeGreaterThan(0);
    // Every ended run's projection lag is observed once.
    expect(value("crane_projection_lag_seconds_count", { tenant: "dev" })).toBe(4);
  });

  it("counts steps by tenant, tool and outcome; retries by tool; failures by error code", async () => {
    const { value } = await scrape();
    const calc = { tenant: "dev", tool: "Calculator.evaluate" };
    const http = { tenant: "dev", tool: "Http.get" };
    expect(value("crane_steps_total", { ...calc, outcome: "succeeded" })).toBe(3);
    expect(value("crane_steps_total", { ...calc, outcome: "failed" })).toBe(1);
    expect(value("crane_steps_total", { ...http, outcome: "succeeded" })).toBe(1);
    expect(value("crane_step_retries_total", http)).toBe(1);
    expect(value("crane_step_failures_total", { ...calc, code: "division_by_zero" })).toBe(1);
    expect(value("crane_step_duration_seconds_count", calc)).toBe(4);
    expect(value("crane_step_duration_seconds_bucket", { ...calc, le: "+Inf" })).toBe(4);
    expect(value("crane_step_duration_seconds_bucket", { ...calc, le: String(7 * 86400) })).toBe(4);
    expect(value("crane_step_duration_seconds_count", http)).toBe(1);
    // The queued step's last attempt reported how long its message waited; the inline one has none.
    expect(value("crane_queue_dispatch_lag_seconds_count", http)).toBe(1);
    expect(value("crane_queue_dispatch_lag_seconds_count", calc)).toBeUndefined();
  });

  it("counts plans by tenant, planner and fallback reason", async () => {
    const { value } = await scrape();
    expect(value("crane_plans_total", { tenant: "dev", planner: "rules", fallback_reason: "not_configured" })).toBe(3);
    expect(value("crane_plans_total", { tenant: "dev", planner: "explicit", fallback_reason: "" })).toBe(1);
  });

  it("shows the breaker of each queue tool a tenant used, with its transitions", async () => {
    const { value, all } = await scrape();
    expect(value("crane_breaker_state", { tenant: "dev", tool: "Http.get" })).toBe(0);
    expect(value("crane_breaker_transitions_total", { tenant: "dev", tool: "Http.get", to: "open" })).toBe(0);
    // The dev tenant never used TodoStore.add: no breaker series for it.
    expect(all.filter((s) => s.name === "crane_breaker_state").map((s) => s.labels.tool)).toEqual(["Http.get"]);
  });

  it("starts every counter at zero for every known label, and shows no tool series for a tenant that never used the tool", async () => {
    const tenant = `quiet-${uniq()}`;
    await newApiKey(tenant);
    const before = await scrape();
    expect(before.value("crane_runs_started_total", { tenant })).toBe(0);
    for (const status of ["completed", "failed", "cancelled"]) expect(before.value("crane_runs_ended_total", { tenant, status })).toBe(0);
    expect(before.value("crane_runs_in_flight", { tenant })).toBe(0);
    for (const fallback_reason of ["timeout", "provider_error", "invalid_output", "not_configured"])
      expect(before.value("crane_plans_total", { tenant, planner: "rules", fallback_reason })).toBe(0);
    expect(before.value("crane_plans_total", { tenant, planner: "llm", fallback_reason: "" })).toBe(0);
    expect(before.value("crane_rate_limited_requests_total", { tenant, reason: "api_key" })).toBe(0);
    expect(before.value("crane_rate_limited_requests_total", { tenant, reason: "runs_in_flight" })).toBe(0);
    expect(before.value("crane_run_duration_seconds_count", { tenant })).toBe(0);
    expect(before.all.filter((s) => s.labels.tenant === tenant && s.labels.tool !== undefined)).toEqual([]);
    // Every outcome of a tool the dev tenant used, including the ones that never happened.
    expect(before.value("crane_steps_total", { tenant: "dev", tool: "Calculator.evaluate", outcome: "cancelled" })).toBe(0);
    expect(before.value("crane_steps_total", { tenant: "dev", tool: "Calculator.evaluate", outcome: "skipped" })).toBe(0);
  });

  it("counts a step cut short by a cancel as cancelled, not skipped", async () => {
    const tenant = `cancel-${uniq()}`;
    const { secret } = await newApiKey(tenant);
    const run = await runAs(secret, {
      plan: {
        steps: [
          { step_number: 1, tool: "Wait.sleep", input: { seconds: 3600 } },
          { step_number: 2, tool: "Calculator.evaluate", input: { expression: "1 + 1" }, depends_on: [1] },
        ],
      },
    });
    await projected([run.run_id], () => "running");
    expect((await scrape()).value("crane_runs_in_flight", { tenant })).toBe(1);
    expect((await api(`/runs/${run.run_id}/cancel`, { method: "POST", key: secret })).status).toBe(200);
    await projected([run.run_id], () => "cancelled");
    const { value } = await scrape();
    expect(value("crane_runs_ended_total", { tenant, status: "cancelled" })).toBe(1);
    expect(value("crane_runs_in_flight", { tenant })).toBe(0);
    expect(value("crane_steps_total", { tenant, tool: "Wait.sleep", outcome: "cancelled" })).toBe(1);
    expect(value("crane_steps_total", { tenant, tool: "Wait.sleep", outcome: "skipped" })).toBe(0);
    expect(value("crane_steps_total", { tenant, tool: "Calculator.evaluate", outcome: "cancelled" })).toBe(1);
  });

  it("counts a resumed run at each ending, and each of its steps once per time it ran", async () => {
    const tenant = `resume-${uniq()}`;
    const { secret } = await newApiKey(tenant);
    const run = await runAs(secret, {
      plan: {
        steps: [
          { step_number: 1, tool: "Calculator.evaluate", input: { expression: "2 + 2" } },
          { step_number: 2, tool: "Http.get", input: { url: `${upstream}/flaky/resume-${uniq()}?fail=1` }, depends_on: [1] },
        ],
      },
      options: { retry: { max_attempts: 1 } },
    });
    expect((await waitForRun(run.run_id, undefined, 20_000, secret)).status).toBe("failed");
    await projected([run.run_id], () => "failed");
    expect((await api(`/runs/${run.run_id}/resume`, { method: "POST", key: secret })).status).toBe(200);
    expect((await waitForRun(run.run_id, undefined, 20_000, secret)).status).toBe("completed");
    await projected([run.run_id], () => "completed");
    const { value } = await scrape();
    expect(value("crane_runs_started_total", { tenant })).toBe(1);
    expect(value("crane_runs_resumed_total", { tenant })).toBe(1);
    expect(value("crane_runs_ended_total", { tenant, status: "failed" })).toBe(1);
    expect(value("crane_runs_ended_total", { tenant, status: "completed" })).toBe(1);
    expect(value("crane_runs_in_flight", { tenant })).toBe(0);
    // The calculation succeeded before the resume and did not run again.
    expect(value("crane_steps_total", { tenant, tool: "Calculator.evaluate", outcome: "succeeded" })).toBe(1);
    expect(value("crane_steps_total", { tenant, tool: "Http.get", outcome: "failed" })).toBe(1);
    expect(value("crane_steps_total", { tenant, tool: "Http.get", outcome: "succeeded" })).toBe(1);
    expect(value("crane_step_failures_total", { tenant, tool: "Http.get", code: "upstream_error" })).toBe(1);
  });

  it("counts a rerun's steps that ran, not those it took over from the run it forks", async () => {
    const tenant = `rerun-${uniq()}`;
    const { secret } = await newApiKey(tenant);
    const run = await runAs(secret, {
      plan: {
        steps: [
          { step_number: 1, tool: "Calculator.evaluate", input: { expression: "2 + 2" } },
          { step_number: 2, tool: "Calculator.evaluate", input: { expression: "{{steps.1.output}} * 10" }, depends_on: [1] },
        ],
      },
    });
    expect(run.status).toBe("completed");
    const res = await api(`/runs/${run.run_id}/rerun`, { method: "POST", json: { from_step: 2 }, key: secret });
    expect(res.status).toBe(201);
    const rerun = await waitForRun(((await res.json()) as RunResource).run_id, undefined, 20_000, secret);
    expect(rerun.status).toBe("completed");
    await projected([run.run_id, rerun.run_id], () => "completed");
    const { value } = await scrape();
    expect(value("crane_runs_ended_total", { tenant, status: "completed" })).toBe(2);
    // Two in the original, one in the rerun: its step 1 was taken over, not run.
    expect(value("crane_steps_total", { tenant, tool: "Calculator.evaluate", outcome: "succeeded" })).toBe(3);
  });

  it("counts requests refused at the tenant's cap on runs in flight", async () => {
    const tenant = `capped-${uniq()}`;
    const { secret } = await newApiKey(tenant);
    const capped = { ...env, MAX_RUNS_IN_FLIGHT: "1" } as Env;
    const post = () =>
      app.fetch(
        new Request("http://crane.test/api/v1/runs", {
          method: "POST",
          headers: { authorization: `Bearer ${secret}`, "content-type": "application/json" },
          body: JSON.stringify({ plan: { steps: [{ step_number: 1, tool: "Wait.sleep", input: { seconds: 3600 } }] } }),
        }),
        capped,
      );
    const first = await post();
    expect(first.status).toBe(201);
    const { run_id } = (await first.json()) as RunResource;
    expect((await post()).status).toBe(429);
    // The count is written off the request's path: wait for it to land.
    for (let i = 0; (await scrape()).value("crane_rate_limited_requests_total", { tenant, reason: "runs_in_flight" }) !== 1; i++) {
      if (i > 100) throw new Error("the refused request was never counted");
      await pause(20);
    }
    expect((await api(`/runs/${run_id}/cancel`, { method: "POST", key: secret })).status).toBe(200);
    await projected([run_id], () => "cancelled");
  });

  it("reads the same rows per scrape however long the history, once rolled up, and keeps its counts when old runs are deleted", async () => {
    const tenant = `history-${uniq()}`;
    // History as the run objects project it: rows reaching D1 in their final state. Fixed times
    // make every run land in the same buckets, so the only thing that grows between the scrapes is
    // the number of runs.
    const history = (n: number) => shardDb(tenant).batch(Array.from({ length: n }, () => endedRow(tenant, WITH_AGENT)));
    await history(5);
    await rollUpMetrics(env);
    const small = await scrape();
    await history(500);
    const tailed = await scrape();
    await rollUpMetrics(env, { batch: 200 });
    const large = await scrape();
    const rowsRead = (s: typeof small) => s.value("crane_metrics_rows_read")!;
    expect(rowsRead(small)).toBeGreaterThan(0);
    // Before the rollup takes them, the new rows are read (the tail); after, they are not.
    expect(rowsRead(tailed)).toBeGreaterThan(rowsRead(small) + 500);
    expect(rowsRead(large)).toBe(rowsRead(small));
    const mine = (s: typeof small) => s.all.filter((x) => x.labels.tenant === tenant).map((x) => `${x.name}${JSON.stringify(x.labels)} ${x.value}`);
    expect(mine(large)).toEqual(mine(tailed));
    expect(large.value("crane_runs_ended_total", { tenant, status: "failed" })).toBe(505);
    expect(large.value("crane_step_failures_total", { tenant, tool: "Http.get", code: "upstream_error" })).toBe(505);
    expect(large.value("crane_step_retries_total", { tenant, tool: "Http.get" })).toBe(505);
    expect(large.value("crane_queue_dispatch_lag_seconds_bucket", { tenant, tool: "Http.get", le: "0.005" })).toBe(505);
    expect(large.value("crane_queue_dispatch_lag_seconds_bucket", { tenant, tool: "Http.get", le: "0.001" })).toBe(0);
    expect(large.value("crane_step_duration_seconds_bucket", { tenant, tool: "Http.get", le: "0.05" })).toBe(505);
    expect(large.value("crane_step_duration_seconds_sum", { tenant, tool: "Http.get" })).toBeCloseTo(505 * 0.04, 6);
    expect(large.value("crane_projection_lag_seconds_bucket", { tenant, le: "1" })).toBe(505);
    const llm = { tenant, model: "m-h" };
    expect(["calls", "input_tokens", "output_tokens", "cost_usd"].map((c) => large.value(`crane_llm_${c}_total`, llm))).toEqual([
      505 * 3,
      505 * 700,
      505 * 40,
      (505 * 1234) / 1e9,
    ]);

    // Retention deletes old run rows (those the rollup has taken, and not the one at its watermark,
    // as the sweep does); the counters do not go back.
    await shardDb(tenant).prepare("DELETE FROM runs WHERE tenant = ? AND seq < (SELECT seq FROM metric_watermark)").bind(tenant).run();
    const after = await scrape();
    expect(mine(after)).toEqual(mine(large));
    expect(rowsRead(after)).toBe(rowsRead(large));
  });

  it("counts each run once across rollup boundaries: in the tail, in a partial rollup, in flight and after", async () => {
    const tenant = `boundary-${uniq()}`;
    const inFlight = Array.from({ length: 4 }, () => `run_${crypto.randomUUID()}`);
    // Everything before is taken, so the batches below fall on this test's rows.
    await rollUpMetrics(env);
    await shardDb(tenant).batch([
      ...Array.from({ length: 7 }, () => endedRow(tenant)),
      ...inFlight.map((id) =>
        shardDb(tenant)
          .prepare(
            `INSERT INTO runs (run_id, tenant, status, planner, fallback_reason, step_count, created_at, started_at, projected_seq, projected_at)
           VALUES (?, ?, 'running', 'rules', 'not_configured', 2, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', 2, '2026-01-01T00:00:00.000Z')`,
          )
          .bind(id, tenant),
      ),
      ...Array.from({ length: 6 }, () => endedRow(tenant)),
    ]);
    const counts = async () => {
      const { value } = await scrape();
      return {
        started: value("crane_runs_started_total", { tenant }),
        failed: value("crane_runs_ended_total", { tenant, status: "failed" }),
        in_flight: value("crane_runs_in_flight", { tenant }),
        http_failed: value("crane_steps_total", { tenant, tool: "Http.get", outcome: "failed" }),
        run_duration: value("crane_run_duration_seconds_count", { tenant }),
      };
    };
    const before = { started: 17, failed: 13, in_flight: 4, http_failed: 13, run_duration: 13 };
    expect(await counts()).toEqual(before);
    // Batches of 3 end inside the first rows and between the in-flight ones.
    for (let i = 0; i < 3; i++) {
      await rollUpMetrics(env, { batch: 3, maxBatches: 1 });
      expect(await counts()).toEqual(before);
    }
    // Two of the in-flight runs end, one the rollup has taken (pending), one it has not: once each.
    const pending = await shardDb(tenant)
      .prepare("SELECT count(*) AS n FROM metric_pending WHERE seq IN (SELECT seq FROM runs WHERE run_id IN (?, ?))")
      .bind(inFlight[0], inFlight[3])
      .first<{ n: number }>();
    expect(pending?.n).toBe(1);
    const end = (id: string) =>
      shardDb(tenant)
        .prepare(
          `UPDATE runs SET status = 'failed', completed_at = '2026-01-01T00:00:01.000Z', steps = ?, projected_seq = 9,
         projected_at = '2026-01-01T00:00:01.000Z' WHERE run_id = ?`,
        )
        .bind(STEPS, id)
        .run();
    await end(inFlight[0]!);
    await end(inFlight[3]!);
    const ended = { started: 17, failed: 15, in_flight: 2, http_failed: 15, run_duration: 15 };
    expect(await counts()).toEqual(ended);
    await rollUpMetrics(env, { batch: 3 });
    expect(await counts()).toEqual(ended);
    await rollUpMetrics(env);
    expect(await counts()).toEqual(ended);
  });

  it("counts a resumed run's endings once each, whether or not the rollup took the first before the resume", async () => {
    const tenant = `reopen-${uniq()}`;
    const [rolled, unrolled] = [endedRow(tenant), endedRow(tenant)];
    await rolled.run();
    await rollUpMetrics(env);
    await unrolled.run();
    const ids = (await shardDb(tenant).prepare("SELECT run_id FROM runs WHERE tenant = ? ORDER BY seq").bind(tenant).all<{ run_id: string }>()).results.map(
      (r) => r.run_id,
    );
    const set = (status: string, completedAt: string | null, steps: string | null) =>
      shardDb(tenant).batch(
        ids.map((id) =>
          shardDb(tenant)
            .prepare("UPDATE runs SET status = ?, completed_at = ?, steps = coalesce(?, steps), projected_seq = projected_seq + 1 WHERE run_id = ?")
            .bind(status, completedAt, steps, id),
        ),
      );
    const counts = async () => {
      const { value } = await scrape();
      return [
        value("crane_runs_started_total", { tenant }),
        value("crane_runs_resumed_total", { tenant }),
        value("crane_runs_ended_total", { tenant, status: "failed" }),
        value("crane_runs_ended_total", { tenant, status: "completed" }),
        value("crane_runs_in_flight", { tenant }),
        value("crane_steps_total", { tenant, tool: "Calculator.evaluate", outcome: "succeeded" }),
        value("crane_steps_total", { tenant, tool: "Http.get", outcome: "succeeded" }),
      ];
    };
    await set("running", null, null);
    expect(await counts()).toEqual([2, 2, 2, 0, 2, 2, 0]);
    await rollUpMetrics(env);
    expect(await counts()).toEqual([2, 2, 2, 0, 2, 2, 0]);
    // The second endings: step 2 ran again and succeeded; step 1 did not run again.
    const again = JSON.stringify(
      JSON.parse(STEPS).map((s: { step_number: number }) => (s.step_number === 2 ? { ...s, status: "succeeded", error_code: null } : s)),
    );
    await set("completed", "2026-01-01T00:00:09.000Z", again);
    expect(await counts()).toEqual([2, 2, 2, 2, 0, 2, 2]);
    await rollUpMetrics(env);
    expect(await counts()).toEqual([2, 2, 2, 2, 0, 2, 2]);
  });

  it("counts an agent step's model usage once across a resume, whether or not the rollup took the first ending before it", async () => {
    const tenant = `llm-reopen-${uniq()}`;
    // A resume keeps an agent step's recorded turns, so each ending's summary holds its usage so far.
    const agentSteps = (calls: number, input_tokens: number, output_tokens: number, cost_nano: number) =>
      JSON.stringify([
        {
          step_number: 1,
          tool: "Agent.run",
          status: "failed",
          attempts: 1,
          error_code: "max_turns_exceeded",
          skip_reason: null,
          duration_ms: 9,
          llm: { model: "m-1", calls, input_tokens, output_tokens, cost_nano },
        },
        // A step a rerun took over used its tokens in the run it forks, and counted there.
        {
          step_number: 2,
          tool: "Agent.run",
          status: "succeeded",
          attempts: 1,
          error_code: null,
          skip_reason: null,
          duration_ms: 9,
          reused: true,
          llm: { model: "m-1", calls: 50, input_tokens: 5000, output_tokens: 500, cost_nano: 50 },
        },
      ]);
    const row = () =>
      shardDb(tenant)
        .prepare(
          `INSERT INTO runs (run_id, tenant, status, planner, step_count, created_at, started_at, completed_at, projected_seq, steps, projected_at)
         VALUES (?, ?, 'failed', 'given', 2, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:01.000Z', 9, ?, '2026-01-01T00:00:01.500Z')`,
        )
        .bind(`run_${crypto.randomUUID()}`, tenant, agentSteps(2, 100, 10, 1500));
    await row().run();
    await rollUpMetrics(env);
    await row().run();
    const set = (status: string, completedAt: string | null, steps: string | null) =>
      shardDb(tenant)
        .prepare("UPDATE runs SET status = ?, completed_at = ?, steps = coalesce(?, steps), projected_seq = projected_seq + 1 WHERE tenant = ?")
        .bind(status, completedAt, steps, tenant)
        .run();
    const counts = async () => {
      const { value } = await scrape();
      const labels = { tenant, model: "m-1" };
      return ["calls", "input_tokens", "output_tokens", "cost_usd"].map((c) => value(`crane_llm_${c}_total`, labels));
    };
    expect(await counts()).toEqual([4, 200, 20, 3e-6]);
    await set("running", null, null);
    expect(await counts()).toEqual([4, 200, 20, 3e-6]);
    await rollUpMetrics(env);
    // The second endings: one more model call, and its tokens.
    await set("failed", "2026-01-01T00:00:09.000Z", agentSteps(3, 180, 25, 2750));
    expect(await counts()).toEqual([6, 360, 50, 5.5e-6]);
    await rollUpMetrics(env);
    expect(await counts()).toEqual([6, 360, 50, 5.5e-6]);
  });

  it("writes no metric rows on a run's path: a calculation writes 3 D1 rows, a 2-step plan through the queue that ends within the creation row's delay 3", async () => {
    const calc = await createRun({ prompt: "calculate 6 * 7" });
    expect(calc.status).toBe("completed");
    // The queued run's clock stands still, so it ends within CREATION_ROW_DELAY_MS however slow the machine.
    const key = `metrics-rows-${uniq()}`;
    await runInDurableObject(env.RUNS.getByName(await runIdFor(DEV_TENANT, key)), (instance: RunObject) => {
      const frozen = Date.now();
      instance.clock = () => frozen;
    });
    const queued = await createRun(
      {
        plan: {
          steps: [
            { step_number: 1, tool: "TodoStore.list", input: {} },
            { step_number: 2, tool: "TodoStore.list", input: {} },
          ],
        },
      },
      { "idempotency-key": key },
    );
    expect((await waitForRun(queued.run_id)).status).toBe("completed");
    await projected([queued.run_id], () => "completed");
    const usage = async (id: string) => (await (await api(`/runs/${id}/usage`)).json()) as { d1_statements: number; d1_rows_written: number };
    // The runs row, its tenant index (the row's key) and its expiry index (retention's), written
    // once, at the end: a run that ends before its creation row is due writes only its end row. The
    // metric triggers this replaces added 5 and 9 rows more; an index on run_id of its own, 1.
    expect(await usage(calc.run_id)).toMatchObject({ d1_statements: 1, d1_rows_written: 3 });
    expect(await usage(queued.run_id)).toMatchObject({ d1_statements: 1, d1_rows_written: 3 });
  });

  it("stores the bucket bounds the exposition uses", async () => {
    const { results } = await env.DB.prepare("SELECT family, le FROM metric_bounds ORDER BY family, le").all<{ family: string; le: number }>();
    const stored: Record<string, number[]> = {};
    for (const r of results) (stored[r.family] ??= []).push(r.le);
    expect(stored).toEqual(Object.fromEntries(Object.entries(METRIC_BOUNDS).map(([f, les]) => [f, [...les]])));
  });

  it("requires the metrics token when one is configured", async () => {
    const withToken = { ...env, METRICS_TOKEN: "s3cret" } as Env;
    const denied = await app.fetch(new Request("http://crane.test/metrics"), withToken);
    expect(denied.status).toBe(401);
    expect(((await denied.json()) as { error: { code: string } }).error.code).toBe("unauthorized");
    const wrong = await app.fetch(new Request("http://crane.test/metrics", { headers: { authorization: "Bearer s3cres" } }), withToken);
    expect(wrong.status).toBe(401);
    const ok = await app.fetch(new Request("http://crane.test/metrics", { headers: { authorization: "Bearer s3cret" } }), withToken);
    expect(ok.status).toBe(200);
    // A tenant's API key is not an operator's token.
    const tenantKey = await app.fetch(new Request("http://crane.test/metrics", { headers: { authorization: `Bearer ${DEV_KEY}` } }), withToken);
    expect(tenantKey.status).toBe(401);
  });

  it("stays closed when neither METRICS_TOKEN nor ADMIN_TOKEN is configured", async () => {
    const unconfigured = { ...env, METRICS_TOKEN: "", ADMIN_TOKEN: "" } as Env;
    expect((await app.fetch(new Request("http://crane.test/metrics"), unconfigured)).status).toBe(401);
    expect((await app.fetch(new Request("http://crane.test/metrics", { headers: { authorization: "Bearer " } }), unconfigured)).status).toBe(401);
  });
});
