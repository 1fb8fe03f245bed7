/**
 * npm run bench [-- --runs 1000 --concurrency 16 --fanout 200 --delay-ms 100 --dag-repeats 5]
 * npm run bench -- --quick            (tiny sizes: proves the benchmark still works)
 *
 * Starts a local upstream and, one after another on fresh local state, Crane (breakers on),
 * Crane (breakers off) and the Cloudflare Workflows peer under `wrangler dev` (same workerd),
 * runs the same workloads against each and observes completion the same way (polling GET every
 * 5 ms). Runtimes log at warn: a local runtime's stdout is not free, and Crane logs a JSON line
 * per event where the peer logs nothing. Writes bench/results/latest.{json,md,svg}.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { parseArgs } from "node:util";
import { serverUrl, startUpstream } from "../test/upstream/server.ts";
import { applyMigrations, killRuntime, startRuntime } from "../scripts/local-runtime.ts";
import { PRICES_PER_MILLION, costPerMillionRuns, type Usage } from "./lib/pricing.ts";
import { barChart, markdownTable, type Row } from "./lib/report.ts";
import { median, percentile, round } from "./lib/stats.ts";
import { awaitTerminal, crane, runOnce, workflows, type System, type Workload } from "./lib/systems.ts";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "1000" },
    concurrency: { type: "string", default: "16" },
    fanout: { type: "string", default: "200" },
    "delay-ms": { type: "string", default: "100" },
    "dag-repeats": { type: "string", default: "5" },
    quick: { type: "boolean", default: false },
    out: { type: "string", default: "bench/results" },
  },
});
const quick = values.quick;
const RUNS = quick ? 20 : Number(values.runs);
const CONCURRENCY = quick ? 4 : Number(values.concurrency);
const FANOUT = quick ? 10 : Number(values.fanout);
const DELAY = Number(values["delay-ms"]);
const REPEATS = quick ? 1 : Number(values["dag-repeats"]);
const OUT = values.out;

const upstream = await startUpstream();
const dagUrls = (tag: string) => Array.from({ length: 8 }, (_, i) => `${serverUrl(upstream)}/ok?delay_ms=${DELAY}&b=${tag}-${i}`);

interface Result {
  throughput: { runs: number; runs_per_s: number; post_p50: number; post_p95: number; post_p99: number; done_p50: number; done_p99: number; failed: number };
  dag: { wall_ms: number; critical_path_ms: number; sequential_ms?: number; speedup?: number };
  fanout: { runs: number; completed: number; wall_s: number; steps_per_s: number };
  usage?: { calc: Usage; dag: Usage };
}

async function throughput(system: System): Promise<Result["throughput"]> {
  const observed: { post_ms: number; total_ms: number; status: string }[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < RUNS) {
        next++;
        observed.push(await runOnce(system, { kind: "calc" }));
      }
    }),
  );
  const wall = (performance.now() - t0) / 1000;
  const post = observed.map((o) => o.post_ms);
  const done = observed.map((o) => o.total_ms);
  return {
    runs: observed.length,
    runs_per_s: round(observed.filter((o) => o.status === "completed").length / wall),
    post_p50: round(percentile(post, 50)),
    post_p95: round(percentile(post, 95)),
    post_p99: round(percentile(post, 99)),
    done_p50: round(percentile(done, 50)),
    done_p99: round(percentile(done, 99)),
    failed: observed.filter((o) => o.status !== "completed").length,
  };
}

async function dag(system: System, sequentialToo: boolean): Promise<Result["dag"]> {
  const walls: number[] = [];
  const seq: number[] = [];
  for (let i = 0; i < REPEATS; i++) {
    walls.push((await runOnce(system, { kind: "dag", urls: dagUrls(`${system.name}-p${i}`) })).total_ms);
    if (sequentialToo) seq.push((await runOnce(system, { kind: "dag", urls: dagUrls(`${system.name}-s${i}`), sequential: true })).total_ms);
  }
  const wall_ms = round(median(walls));
  if (!sequentialToo) return { wall_ms, critical_path_ms: DELAY };
  const sequential_ms = round(median(seq));
  return { wall_ms, critical_path_ms: DELAY, sequential_ms, speedup: round(sequential_ms / wall_ms, 2) };
}

async function fanout(system: System): Promise<Result["fanout"]> {
  const t0 = performance.now();
  const ids = await Promise.all(
    Array.from({ length: FANOUT }, async (_, i) => {
      const res = await fetch(system.url + system.createPath, { method: "POST", headers: { ...system.headers, "content-type": "application/json" }, body: JSON.stringify(system.body({ kind: "dag", urls: dagUrls(`${system.name}-f${i}`) })) });
      if (res.status !== 201) throw new Error(`${system.name}: POST answered ${res.status}`);
      return ((await res.json()) as { run_id: string }).run_id;
    }),
  );
  const results = await Promise.all(ids.map((id) => awaitTerminal(system, id, t0, 300_000)));
  const wall_s = (performance.now() - t0) / 1000;
  const completed = results.filter((r) => r.status === "completed").length;
  return { runs: FANOUT, completed, wall_s: round(wall_s, 2), steps_per_s: round((completed * 9) / wall_s) };
}

/** Billable operations of one run, from the run object's counters and the breakers' request counts. */
async function usageOf(system: System, w: Workload, breakersOn: boolean): Promise<Usage> {
  const breakerCounts = async () => {
    const { breakers } = (await (await fetch(`${system.url}/api/v1/breakers`, { headers: system.headers })).json()) as { breakers: { requests: number; rows_written: number }[] };
    return { requests: breakers.reduce((n, b) => n + b.requests, 0), rows: breakers.reduce((n, b) => n + b.rows_written, 0) };
  };
  const samples = quick ? 2 : 10;
  const before = await breakerCounts();
  const totals = { worker_requests: 0, do_requests: 0, do_rows_written: 0, queue_operations: 0, d1_rows_written: 0 };
  for (let i = 0; i < samples; i++) {
    const run = await runOnce(system, w.kind === "dag" ? { ...w, urls: dagUrls(`${system.name}-u${i}`) } : w);
    const u = (await (await fetch(`${system.url}/api/v1/runs/${run.id}/usage`, { headers: system.headers })).json()) as { do_requests: number; storage_rows_written: number; queue_messages: number; d1_rows_written: number };
    // Worker requests: the POST, plus at most one consumer invocation per message (batches share one).
    totals.worker_requests += 1 + u.queue_messages;
    totals.do_requests += u.do_requests;
    totals.do_rows_written += u.storage_rows_written;
    totals.queue_operations += 3 * u.queue_messages;
    totals.d1_rows_written += u.d1_rows_written;
  }
  if (breakersOn) {
    const after = await breakerCounts();
    totals.do_requests += after.requests - before.requests; // each admit or record is a DO request
    totals.do_rows_written += after.rows - before.rows;
  }
  return Object.fromEntries(Object.entries(totals).map(([k, v]) => [k, round(v / samples, 2)])) as unknown as Usage;
}

async function measure(name: string, start: () => Promise<{ url: string; stop: () => Promise<void>; output: string[] }>, kind: "crane" | "peer", breakersOn = true): Promise<Result> {
  console.log(`\n== ${name}`);
  const rt = await start();
  const system = kind === "crane" ? crane(name, rt.url) : workflows(rt.url);
  try {
    // Warm-up: the first runs pay for module loading and object creation.
    for (let i = 0; i < 3; i++) await runOnce(system, { kind: "calc" });
    const t = await throughput(system);
    console.log("throughput", t);
    const d = await dag(system, kind === "crane");
    console.log("dag", d);
    const f = await fanout(system);
    console.log("fan-out", f);
    const usage = kind === "crane" ? { calc: await usageOf(system, { kind: "calc" }, breakersOn), dag: await usageOf(system, { kind: "dag", urls: [] }, breakersOn) } : undefined;
    if (usage) console.log("usage per run", usage);
    return { throughput: t, dag: d, fanout: f, ...(usage ? { usage } : {}) };
  } catch (err) {
    console.error(`${name} failed; the runtime's last output:\n${rt.output.join("").slice(-4000)}`);
    throw err;
  } finally {
    await rt.stop();
  }
}

let port = 8810;
function craneRuntime(breakers: boolean) {
  return async () => {
    const state = `.wrangler/bench-crane-${breakers ? "on" : "off"}`;
    rmSync(state, { recursive: true, force: true });
    applyMigrations(state);
    // Unlimited: the benchmark measures the runtime, not one client's rate limit or run cap.
    const rt = await startRuntime({ port: port++, persistTo: state, unlimited: true, vars: { HTTP_TOOL_ALLOWLIST: "127.0.0.1:*", BREAKER_ENABLED: String(breakers) }, logLevel: "warn" });
    return { url: rt.url, stop: () => killRuntime(rt), output: rt.output };
  };
}
async function peerRuntime() {
  const state = ".wrangler/bench-workflows";
  rmSync(state, { recursive: true, force: true });
  const rt = await startRuntime({ port: port++, persistTo: state, config: "bench/peers/workflows/wrangler.toml", healthPath: "/health", logLevel: "warn" });
  return { url: rt.url, stop: () => killRuntime(rt), output: rt.output };
}

const results: Record<string, Result> = {
  crane: await measure("crane", craneRuntime(true), "crane", true),
  "crane-no-breakers": await measure("crane-no-breakers", craneRuntime(false), "crane", false),
  workflows: await measure("workflows", peerRuntime, "peer"),
};
upstream.close();

const version = (pkg: string) => (JSON.parse(readFileSync(`node_modules/${pkg}/package.json`, "utf8")) as { version: string }).version;
const machine = {
  cpu: os.cpus()[0]?.model ?? "unknown",
  cores: os.cpus().length,
  memory_gib: round(os.totalmem() / 2 ** 30, 1),
  node: process.versions.node,
  workerd: version("workerd"),
  wrangler: version("wrangler"),
  date: new Date().toISOString(),
};
const params = { runs: RUNS, concurrency: CONCURRENCY, fanout: FANOUT, delay_ms: DELAY, dag_repeats: REPEATS, poll_ms: 5, quick };
const c = results.crane!;
const w = results.workflows!;
const off = results["crane-no-breakers"]!;
const ratios = {
  throughput_crane_over_workflows: round(c.throughput.runs_per_s / w.throughput.runs_per_s, 2),
  done_p50_crane_over_workflows: round(c.throughput.done_p50 / w.throughput.done_p50, 2),
  dag_wall_crane_over_workflows: round(c.dag.wall_ms / w.dag.wall_ms, 2),
  fanout_steps_per_s_crane_over_workflows: round(c.fanout.steps_per_s / w.fanout.steps_per_s, 2),
  dag_parallel_speedup: c.dag.speedup ?? NaN,
  breaker_cost_done_p50_on_over_off: round(c.throughput.done_p50 / off.throughput.done_p50, 2),
  breaker_cost_throughput_on_over_off: round(c.throughput.runs_per_s / off.throughput.runs_per_s, 2),
};
const cost = {
  prices_usd_per_million: PRICES_PER_MILLION,
  crane_calc_usd_per_million_runs: round(costPerMillionRuns(c.usage!.calc), 2),
  crane_dag_usd_per_million_runs: round(costPerMillionRuns(c.usage!.dag), 2),
  crane_no_breakers_calc_usd_per_million_runs: round(costPerMillionRuns(off.usage!.calc), 2),
  crane_no_breakers_dag_usd_per_million_runs: round(costPerMillionRuns(off.usage!.dag), 2),
};

mkdirSync(OUT, { recursive: true });
const base = quick ? `${OUT}/quick` : `${OUT}/latest`;
writeFileSync(`${base}.json`, JSON.stringify({ machine, params, results, ratios, cost }, null, 2));
const systems = Object.keys(results);
const rows: Row[] = [
  { metric: "throughput, runs/s (calc)", values: Object.fromEntries(systems.map((s) => [s, results[s]!.throughput.runs_per_s])) },
  { metric: "POST latency p50 / p95 / p99, ms", values: Object.fromEntries(systems.map((s) => [s, `${results[s]!.throughput.post_p50} / ${results[s]!.throughput.post_p95} / ${results[s]!.throughput.post_p99}`])) },
  { metric: "submit→completed p50 / p99, ms", values: Object.fromEntries(systems.map((s) => [s, `${results[s]!.throughput.done_p50} / ${results[s]!.throughput.done_p99}`])) },
  { metric: `DAG (8 × ${DELAY} ms + join) wall, ms`, values: Object.fromEntries(systems.map((s) => [s, results[s]!.dag.wall_ms])) },
  { metric: "DAG with max_parallelism 1, ms", values: Object.fromEntries(systems.map((s) => [s, results[s]!.dag.sequential_ms ?? "—"])) },
  { metric: `fan-out: ${FANOUT} DAG runs at once, steps/s`, values: Object.fromEntries(systems.map((s) => [s, results[s]!.fanout.steps_per_s])) },
  { metric: "fan-out completed", values: Object.fromEntries(systems.map((s) => [s, `${results[s]!.fanout.completed}/${FANOUT}`])) },
  { metric: "cost per million calc runs, USD", values: Object.fromEntries(systems.map((s) => [s, results[s]!.usage ? round(costPerMillionRuns(results[s]!.usage!.calc), 2) : "—"])) },
  { metric: "cost per million DAG runs, USD", values: Object.fromEntries(systems.map((s) => [s, results[s]!.usage ? round(costPerMillionRuns(results[s]!.usage!.dag), 2) : "—"])) },
];
const md = `# Crane benchmark${quick ? " (quick, CI sizes)" : ""}

Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memory_gib} GiB; Node ${machine.node}; workerd ${machine.workerd} (wrangler ${machine.wrangler}); ${machine.date}.
Everything ran locally under \`wrangler dev\` (log level warn) on this one machine, load generator included, so the numbers compare systems in the same runtime; they are not production figures. Expect ±15 % between runs on 2 cores: compare the ratios within one run.
Parameters: ${JSON.stringify(params)}.

${markdownTable(rows, systems)}

Ratios (same run): ${Object.entries(ratios).map(([k, v]) => `\`${k}\` = ${v}`).join(", ")}.

Billable operations per run (Crane, breakers on): calc ${JSON.stringify(c.usage!.calc)}; DAG ${JSON.stringify(c.usage!.dag)}.
Prices (USD per million): ${JSON.stringify(PRICES_PER_MILLION)}. The Workflows peer's cost is not counted (its billing is CPU time and storage, not comparable operation by operation).

Reproduce: \`npm run bench${quick ? " -- --quick" : ""}\`.
`;
writeFileSync(`${base}.md`, md);
writeFileSync(
  `${base}.svg`,
  barChart("Crane / Cloudflare Workflows (same machine, same workerd)", [
    { label: "throughput (calc runs/s)", value: ratios.throughput_crane_over_workflows, unit: "×" },
    { label: "fan-out steps/s", value: ratios.fanout_steps_per_s_crane_over_workflows, unit: "×" },
    { label: "DAG wall time (lower is better)", value: ratios.dag_wall_crane_over_workflows, unit: "×" },
    { label: "submit→done p50 (lower is better)", value: ratios.done_p50_crane_over_workflows, unit: "×" },
    { label: "Crane DAG speed-up vs sequential", value: ratios.dag_parallel_speedup, unit: "×" },
  ]),
);
console.log(`\n${md}`);
