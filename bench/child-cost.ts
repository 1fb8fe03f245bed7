/**
 * npm run bench:children [-- --samples 50 --port 8910]
 *
 * The extra cost of a child run over a plain step. On a fresh local Crane it runs, one after
 * another, `samples` runs of a one-step calculation, and `samples` runs whose one step is Run.start
 * of that same calculation (waited for). For each it measures the POST ?wait latency until the run
 * completed, and adds up the billable counters of the run (and of its child) from GET /usage.
 * Writes bench/results/children.json and prints the difference per run.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { authHeaders } from "../scripts/local-runtime.ts";
import { freePort, start } from "./lib/runtimes.ts";
import { percentile, round } from "./lib/stats.ts";

const { values } = parseArgs({
  options: { samples: { type: "string", default: "50" }, port: { type: "string", default: "8910" }, out: { type: "string", default: "bench/results" } },
});
const SAMPLES = Number(values.samples);
const COUNTERS = ["do_requests", "storage_rows_written", "queue_messages", "d1_statements", "d1_rows_written"] as const;
type Counters = Record<(typeof COUNTERS)[number], number>;

const calc = (i: number) => ({ steps: [{ step_number: 1, tool: "Calculator.evaluate", input: { expression: `${i} + 1` } }] });
const workloads = {
  step: (i: number) => ({ plan: calc(i) }),
  child: (i: number) => ({ plan: { steps: [{ step_number: 1, tool: "Run.start", input: { plan: calc(i) } }] } }),
};

const started = await start("crane", await freePort(Number(values.port)));
const url = started.system.url;
const headers = { ...authHeaders, "content-type": "application/json" };

async function usage(runId: string): Promise<Counters> {
  const res = await fetch(`${url}/api/v1/runs/${runId}/usage`, { headers });
  if (!res.ok) throw new Error(`GET usage ${runId}: ${res.status}`);
  return (await res.json()) as Counters;
}

/** One run with ?wait: its latency, and the counters of the run and its children once they settled. */
async function once(body: unknown): Promise<{ ms: number; counters: Counters }> {
  const t0 = performance.now();
  const res = await fetch(`${url}/api/v1/runs?wait=30`, { method: "POST", headers, body: JSON.stringify(body) });
  const ms = performance.now() - t0;
  const run = (await res.json()) as { run_id: string; status: string; children: { run_id: string }[] };
  if (run.status !== "completed") throw new Error(`run ${run.run_id} ended ${run.status}`);
  // Let the child's end notice and the projections land before reading the counters.
  await new Promise((r) => setTimeout(r, 200));
  const all = await Promise.all([run.run_id, ...run.children.map((c) => c.run_id)].map(usage));
  const counters = Object.fromEntries(COUNTERS.map((k) => [k, all.reduce((n, u) => n + u[k], 0)])) as Counters;
  return { ms, counters };
}

const results: Record<string, { p50_ms: number; p95_ms: number; per_run: Counters }> = {};
try {
  for (const [name, workload] of Object.entries(workloads)) {
    const times: number[] = [];
    const sum = Object.fromEntries(COUNTERS.map((k) => [k, 0])) as Counters;
    for (let i = 0; i < SAMPLES; i++) {
      const r = await once(workload(i));
      times.push(r.ms);
      for (const k of COUNTERS) sum[k] += r.counters[k];
    }
    times.sort((a, b) => a - b);
    results[name] = {
      p50_ms: round(percentile(times, 50), 1),
      p95_ms: round(percentile(times, 95), 1),
      per_run: Object.fromEntries(COUNTERS.map((k) => [k, round(sum[k] / SAMPLES, 2)])) as Counters,
    };
  }
} finally {
  await started.stop();
}
const extra = {
  p50_ms: round(results.child!.p50_ms - results.step!.p50_ms, 1),
  ...Object.fromEntries(COUNTERS.map((k) => [k, round(results.child!.per_run[k] - results.step!.per_run[k], 2)])),
};
console.table({
  ...Object.fromEntries(Object.entries(results).map(([k, v]) => [k, { p50_ms: v.p50_ms, p95_ms: v.p95_ms, ...v.per_run }])),
  "child − step": extra,
});
mkdirSync(values.out, { recursive: true });
writeFileSync(`${values.out}/children.json`, JSON.stringify({ samples: SAMPLES, results, extra }, null, 2) + "\n");
