/**
 * npm run bench [-- --runs 1000 --concurrency 16 --fanout 1000 --delay-ms 100 --dag-repeats 5]
 * npm run bench -- --quick                      (tiny sizes: proves the benchmark still works)
 * npm run bench -- --systems floor,workflows    (a subset; default: all five)
 * npm run bench -- --workloads agent            (core: calc, DAG, fan-out; agent: issue 30's loop; default all three)
 * npm run bench -- --workloads scale            (only the scale table: requests per run to each class of object, and the
 *                                                ceilings they imply; into bench/results and, without --quick, the docs)
 *
 * Starts a local upstream and, one after another on fresh local state, the floor (one request to
 * one SQLite Durable Object per run: the least a durable run can cost), Crane (breakers on), Crane
 * (breakers off) and the Cloudflare Workflows peer, each under `wrangler dev` on the same workerd.
 * It runs the same workloads against each and observes completion the same way (polling GET every
 * 5 ms). Writes bench/results/latest.{json,md,svg} (quick.* with --quick).
 *
 * The agent workload (bench/lib/agent.ts) starts each system again, with a local model: the floor
 * is then the AI SDK's loop in a plain Worker (bench/peers/agent-floor), and the queue floor has none.
 *
 * The scale workload (bench/lib/scale-measure.ts, issue 33) counts what calc, DAG, approval, child
 * and agent-turn runs ask of each shared object and of D1, and turns the counts into ceilings at
 * Cloudflare's published limits (bench/lib/scale.ts). Its table goes between markers into the
 * results' markdown, docs/architecture.md ("Scale") and the README (those two without --quick).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import { parseArgs } from "node:util";
import { serverUrl, startUpstream } from "../test/upstream/server.ts";
import { EXTRA_PRICES_PER_MILLION, PRICES_PER_MILLION } from "./lib/pricing.ts";
import { barChart, markdownTable } from "./lib/report.ts";
import { SYSTEM_NAMES, freePort, start, type SystemName } from "./lib/runtimes.ts";
import { round } from "./lib/stats.ts";
import { cpuOf } from "./lib/cpu.ts";
import { costs, operations, ratios as ratiosOf, rows, type Result } from "./lib/summary.ts";
import { POLL_MS, runOnce } from "./lib/systems.ts";
import { measureUsage } from "./lib/usage.ts";
import { dag, dagUrls, fanout, throughput, type Sizes } from "./lib/workloads.ts";
import { agent, startBenchModel, type AgentResult, type AgentSizes } from "./lib/agent.ts";
import { agentMarkdown, agentTargets } from "./lib/agent-report.ts";
import { AGENT_SYSTEMS, startForAgent } from "./lib/runtimes.ts";
import { measureScale, spreadFromConfig } from "./lib/scale-measure.ts";
import { publishScale, scaleMarkdown } from "./lib/scale-report.ts";
import type { WorkloadCounts } from "./lib/scale.ts";

const WORKLOAD_NAMES = ["core", "agent", "scale"] as const;

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "1000" },
    concurrency: { type: "string", default: "16" },
    fanout: { type: "string", default: "1000" },
    "fanout-connections": { type: "string", default: "64" },
    "fanout-timeout-s": { type: "string", default: "1800" },
    // 0: no run is abandoned for a stall, only at the timeout (see workloads.ts fanout()).
    "fanout-stall-s": { type: "string", default: "0" },
    "delay-ms": { type: "string", default: "100" },
    "dag-repeats": { type: "string", default: "5" },
    systems: { type: "string", default: SYSTEM_NAMES.join(",") },
    workloads: { type: "string", default: WORKLOAD_NAMES.join(",") },
    "agent-turns": { type: "string", default: "5" },
    "model-ms": { type: "string", default: "50" },
    "tool-ms": { type: "string", default: "20" },
    "agent-runs": { type: "string", default: "10" },
    "agent-burst": { type: "string", default: "200" },
    "agent-burst-poll-ms": { type: "string", default: "100" },
    quick: { type: "boolean", default: false },
    "port-base": { type: "string", default: "9510" },
    out: { type: "string", default: "bench/results" },
  },
});
const quick = values.quick;
const isSystem = (s: string): s is SystemName => (SYSTEM_NAMES as readonly string[]).includes(s);
const chosen = values.systems.split(",").map((s) => s.trim());
const unknown = chosen.filter((s) => !isSystem(s));
if (unknown.length) throw new Error(`--systems: unknown ${unknown.join(", ")}; choose from ${SYSTEM_NAMES.join(", ")}`);
// Always in the canonical order, so a subset runs (and reads) like the full benchmark.
const systems = SYSTEM_NAMES.filter((s) => chosen.includes(s));
const chosenWorkloads = values.workloads.split(",").map((s) => s.trim());
const unknownWorkloads = chosenWorkloads.filter((w) => !(WORKLOAD_NAMES as readonly string[]).includes(w));
if (unknownWorkloads.length) throw new Error(`--workloads: unknown ${unknownWorkloads.join(", ")}; choose from ${WORKLOAD_NAMES.join(", ")}`);
const runCore = chosenWorkloads.includes("core");
const runAgent = chosenWorkloads.includes("agent");
const runScale = chosenWorkloads.includes("scale");

const upstream = await startUpstream();
let upstreamHits = 0;
upstream.on("request", () => upstreamHits++);
const sizes: Sizes = {
  runs: quick ? 20 : Number(values.runs),
  concurrency: quick ? 4 : Number(values.concurrency),
  fanout: quick ? 10 : Number(values.fanout),
  fanoutConnections: Number(values["fanout-connections"]),
  fanoutTimeoutMs: Number(values["fanout-timeout-s"]) * 1000,
  fanoutStallMs: Number(values["fanout-stall-s"]) * 1000,
  delayMs: Number(values["delay-ms"]),
  repeats: quick ? 1 : Number(values["dag-repeats"]),
  upstream: serverUrl(upstream),
  upstreamHits: () => upstreamHits,
};
const USAGE_SAMPLES = quick ? 2 : 10;
const agentSizes: AgentSizes = {
  turns: Number(values["agent-turns"]),
  modelMs: Number(values["model-ms"]),
  toolMs: Number(values["tool-ms"]),
  runs: quick ? 3 : Number(values["agent-runs"]),
  burst: quick ? 10 : Number(values["agent-burst"]),
  pollConnections: Number(values["fanout-connections"]),
  burstPollMs: Number(values["agent-burst-poll-ms"]),
  usageSamples: quick ? 2 : 5,
  upstream: sizes.upstream,
};

async function measure(name: SystemName, port: number): Promise<Result> {
  console.log(`\n== ${name}`);
  const t0 = performance.now();
  const rt = await start(name, port);
  const { system } = rt;
  try {
    // Warm-up: the first runs pay for module loading and object creation.
    for (let i = 0; i < 3; i++) await runOnce(system, { kind: "calc" });
    let lines = rt.logLines();
    const { result: t, cpu_s: calcCpu } = await cpuOf(rt.pgid, () => throughput(system, sizes));
    const calcLines = rt.logLines() - lines;
    console.log("throughput", t, `cpu ${round(calcCpu, 2)} s`);
    const d = await dag(system, sizes, name.startsWith("crane"));
    console.log("dag", d);
    // Operations are sampled before the fan-out, whose backlog would still be draining after it.
    const usage = system.usagePath
      ? {
          calc: await measureUsage(system, () => ({ kind: "calc" }), USAGE_SAMPLES),
          dag: await measureUsage(system, (i) => ({ kind: "dag", urls: dagUrls(sizes, `${name}-u${i}`) }), USAGE_SAMPLES),
        }
      : undefined;
    if (usage) console.log("usage per run", JSON.stringify(usage));
    lines = rt.logLines();
    const tallyBefore = rt.logLinesByMessage();
    const { result: f, cpu_s: dagCpu } = await cpuOf(rt.pgid, () => fanout(system, sizes));
    const dagLines = rt.logLines() - lines;
    // Which lines the fan-out wrote, per DAG run: what its log cost is made of.
    const dagByMessage = Object.fromEntries(
      Object.entries(rt.logLinesByMessage())
        .map(([k, n]) => [k, round((n - (tallyBefore[k] ?? 0)) / f.runs, 2)] as const)
        .filter(([, n]) => n > 0)
        .sort((a, b) => b[1] - a[1]),
    );
    console.log("fan-out", f, `cpu ${round(dagCpu, 2)} s`, "log lines per DAG run by message", dagByMessage);
    console.log(`${name} took ${round((performance.now() - t0) / 1000)} s`);
    return {
      throughput: t,
      dag: d,
      fanout: f,
      ...(usage ? { usage } : {}),
      cpu: { calc_s_per_1000_runs: round((calcCpu * 1000) / t.runs, 2), dag_s_per_1000_runs: round((dagCpu * 1000) / f.runs, 2) },
      log_lines: { calc_per_run: round(calcLines / t.runs, 2), dag_per_run: round(dagLines / f.runs, 2), dag_per_run_by_message: dagByMessage },
    };
  } catch (err) {
    console.error(`${name} failed; the runtime's last output:\n${rt.output.join("").slice(-4000)}`);
    throw err;
  } finally {
    await rt.stop();
  }
}

async function measureAgent(name: SystemName, port: number, model: Awaited<ReturnType<typeof startBenchModel>>): Promise<AgentResult> {
  console.log(`\n== ${name} (agent)`);
  const rt = await startForAgent(name, port, { baseUrl: model.baseUrl, model: "bench-agent" });
  try {
    return await agent(rt.system, agentSizes, model);
  } catch (err) {
    console.error(`${name} (agent) failed; the runtime's last output:\n${rt.output.join("").slice(-4000)}`);
    throw err;
  } finally {
    await rt.stop();
  }
}

const began = performance.now();
const loadAtStart = os
  .loadavg()
  .map((l) => round(l, 2))
  .join(", ");
const results: Record<string, Result> = {};
// Ports from --port-base (default 9510), so a benchmark does not collide with other runtimes.
const portBase = Number(values["port-base"]);
if (runCore) for (const [i, name] of systems.entries()) results[name] = await measure(name, await freePort(portBase + i));
const agentResults: Record<string, AgentResult> = {};
if (runAgent) {
  const model = await startBenchModel(agentSizes);
  const agentSystems = systems.filter((s) => AGENT_SYSTEMS.includes(s));
  for (const [i, name] of agentSystems.entries()) agentResults[name] = await measureAgent(name, await freePort(portBase + i), model);
  model.close();
}
let scale: WorkloadCounts[] | undefined;
if (runScale) {
  console.log("\n== scale (crane, breakers on)");
  scale = await measureScale(await freePort(portBase + systems.length), { samples: quick ? 2 : 10, sizes, agent: agentSizes });
  console.log("scale counts per run", JSON.stringify(scale));
}
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
  bench_minutes: round((performance.now() - began) / 60_000),
};
const params = {
  runs: sizes.runs,
  concurrency: sizes.concurrency,
  fanout: sizes.fanout,
  fanout_connections: sizes.fanoutConnections,
  fanout_timeout_s: sizes.fanoutTimeoutMs / 1000,
  fanout_stall_s: sizes.fanoutStallMs / 1000,
  delay_ms: sizes.delayMs,
  dag_repeats: sizes.repeats,
  poll_ms: POLL_MS,
  usage_samples: USAGE_SAMPLES,
  systems,
  workloads: chosenWorkloads,
  ...(runAgent ? { agent: agentSizes } : {}),
  quick,
};
const ratios = ratiosOf(results);
const withUsage = Object.entries(results).flatMap(([s, r]) => (r.usage ? [{ s, usage: r.usage }] : []));
const ops = Object.fromEntries(Object.entries(results).flatMap(([s, r]) => (r.usage ? [[s, operations(r)]] : [])));
const usd = Object.fromEntries(Object.entries(results).flatMap(([s, r]) => (costs(s, r) ? [[s, costs(s, r)]] : [])));

mkdirSync(values.out, { recursive: true });
const base = `${values.out}/${quick ? "quick" : "latest"}`;
const attemptSources = withUsage.map(({ s, usage }) => `${s}: ${usage.dag.counters.queued_attempts_from}`).join(", ") || "no system counted";
const billableLines = withUsage
  .map(({ s, usage }) => `Billable operations per run (${s}): calc ${JSON.stringify(usage.calc.billable)}; DAG ${JSON.stringify(usage.dag.billable)}.`)
  .join("\n");
const reproduceArgs = [
  ...(quick ? ["--quick"] : []),
  ...(systems.length < SYSTEM_NAMES.length ? ["--systems", systems.join(",")] : []),
  ...(chosenWorkloads.length < WORKLOAD_NAMES.length ? ["--workloads", chosenWorkloads.join(",")] : []),
];
const reproduce = `npm run bench${reproduceArgs.length ? ` -- ${reproduceArgs.join(" ")}` : ""}`;
const { spread: scaleSpread, from: spreadFrom } = spreadFromConfig();
const scaleBlock = scale
  ? scaleMarkdown(scale, scaleSpread, {
      command: reproduce,
      date: machine.date,
      spreadFrom,
      setup: `${quick ? 2 : 10} runs of each workload one at a time, on Crane under \`wrangler dev\` with breakers on, for a tenant subscribed to every webhook event type`,
    })
  : undefined;
const coreMd = `${markdownTable(rows(results, sizes.fanout, sizes.delayMs), systems)}

Ratios (same run): ${
  Object.entries(ratios)
    .map(([k, v]) => `\`${k}\` = ${v}`)
    .join(", ") || "none (they need crane and a peer)"
}.

The floor makes one request per run to one SQLite Durable Object, which writes the run's events and runs the whole run inside that request (a calc step computed in place; a DAG's fetches in parallel, then its join), so its POST answers once the run has ended; only its read-model row goes to D1 after the answer. No queue, no leases, no retries: it is a lower bound, not a peer.
The queue floor is the least a design can do when its I/O steps travel by queue, as Crane's do: one request to a per-run object writes the run's first events and sends one message per fetch step (a calc step is computed in place, as Crane does), a consumer fetches and reports once per message, and the object ends the run on the last report. No lease, retry, breaker or validation.
CPU is user + system time of each system's whole process group (wrangler dev and workerd) from /proc, over the calc throughput and over the fan-out (until it idles), per 1,000 runs. Log lines are the JSON lines the Worker wrote over the same spans, per run; under the fan-out, by level and message: ${
  Object.entries(results)
    .map(([s, r]) => `${s} ${JSON.stringify(r.log_lines.dag_per_run_by_message ?? {})}`)
    .join("; ") || "none"
}.
The fan-out client hands all ${sizes.fanout} DAGs over at once and keeps at most ${sizes.fanoutConnections} requests in flight (POSTs first, then the polls); its wall time runs from the first POST to the last run seen finished ("all submitted after": the last POST's answer). ${
  sizes.fanoutStallMs > 0
    ? `A run whose POST or poll goes unanswered for ${sizes.fanoutStallMs / 1000} s fails, and once nothing moves for ${sizes.fanoutStallMs / 1000} s (no POST answered, no upstream fetch, no run ending) the runs left are abandoned; neither counts as completed nor in the wall time.`
    : `No run is abandoned for a stall (a Workflows step waits up to 160 s between retries): a run counts once it is finished, and only the ${sizes.fanoutTimeoutMs / 1000} s timeout gives one up.`
} Upstream fetches per fan-out run: ${Object.entries(results)
  .map(([s, r]) => `${s} ${r.fanout.upstream_fetches_per_run}`)
  .join(", ")} (8 when no fetch was tried twice). GET polls per fan-out run: ${Object.entries(results)
  .map(([s, r]) => `${s} ${r.fanout.polls_per_run ?? "?"}`)
  .join(", ")} (each system's CPU over the fan-out includes answering them, and a system that answers faster is polled more often).
Operations per run: the run's \`GET …/usage\` counters (${USAGE_SAMPLES} runs of each workload, one at a time), plus, with breakers on, the change in the breakers' request and row counts over those runs. "DO requests per calc run" is run object + breaker requests. "DO requests per queued step attempt" is (run object DO requests + breaker DO requests) ÷ queued step attempts for one DAG run, where queued step attempts is the run's \`queued_attempts\` counter, or its \`queue_messages\` where the system does not count attempts (${attemptSources}); GET polls are not counted.
${billableLines}
Prices (USD per million): ${JSON.stringify({ ...PRICES_PER_MILLION, ...EXTRA_PRICES_PER_MILLION })}. Costs include each log line as a Workers Logs event ($0.60 per million beyond the 20 million a month Workers Paid includes; invocation logs, one per request for every system, are not counted). Workflows counts no operations: its cost is 2 requests (the POST and the instance) and its steps at $0.80 per 100,000 (1 per calc run, 9 per DAG run; storage of its state not counted). "+ CPU" adds the CPU measured here at $0.02 per million ms: wrangler dev and workerd under load on a shared machine, an upper bound.
`;
const md = `# Crane benchmark${quick ? " (quick, CI sizes)" : ""}

Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memory_gib} GiB; Node ${machine.node}; workerd ${machine.workerd} (wrangler ${machine.wrangler}); ${machine.date}; load average at the start ${loadAtStart}, at the end ${os
  .loadavg()
  .map((l) => round(l, 2))
  .join(", ")}; the whole benchmark took ${machine.bench_minutes} min.
Everything ran locally under \`wrangler dev\` in each system's shipped configuration (Crane at its default \`LOG_LEVEL\`, info; no log level set for any system; Crane's per-key rate limit and run cap raised so that one client can load it, the checks still made) on this one machine, load generator included, so the numbers compare systems in the same runtime; they are not production figures. Expect ±15 % between runs on 2 cores: compare the ratios within one run.
Parameters: ${JSON.stringify(params)}.

${runCore ? coreMd : ""}${runAgent ? `${runCore ? "\n" : ""}${agentMarkdown(agentResults, agentSizes)}\n` : ""}${scaleBlock ? `\n## Scale\n\n${scaleBlock}\n` : ""}
Reproduce: \`${reproduce}\`.
`;
const io = { read: (p: string) => (existsSync(p) ? readFileSync(p, "utf8") : null), write: (p: string, text: string) => writeFileSync(p, text) };
if (runCore || runAgent) {
  writeFileSync(
    `${base}.json`,
    JSON.stringify(
      {
        machine,
        params,
        results,
        ratios,
        operations: ops,
        usd_per_million_runs: usd,
        prices_usd_per_million: { ...PRICES_PER_MILLION, ...EXTRA_PRICES_PER_MILLION },
        ...(runAgent ? { agent: { results: agentResults, targets: agentTargets(agentResults) } } : {}),
        ...(scale ? { scale } : {}),
      },
      null,
      2,
    ),
  );
  writeFileSync(`${base}.md`, md);
} else if (scale && scaleBlock) {
  // Only the scale table: the results of the last full run stay, with this table in place of theirs.
  writeFileSync(`${values.out}/scale${quick ? "-quick" : ""}.json`, JSON.stringify({ machine, spread: scaleSpread, scale }, null, 2));
  publishScale(scaleBlock, [{ path: `${base}.md`, heading: "## Scale" }], io);
}
// The docs show the table of a full-size run, never CI's quick one.
if (scaleBlock && !quick)
  publishScale(
    scaleBlock,
    [
      { path: "docs/architecture.md", heading: "## Scale" },
      { path: "README.md", heading: "## Scale" },
    ],
    io,
  );

const bar = (label: string, key: string) => (ratios[key] === undefined ? [] : [{ label, value: ratios[key], unit: "×" }]);
const ratioBars = [
  ...bar("throughput (calc runs/s) vs Workflows", "throughput_crane_over_workflows"),
  ...bar("throughput (calc runs/s) vs floor", "throughput_crane_over_floor"),
  ...bar("fan-out steps/s vs Workflows", "fanout_steps_per_s_crane_over_workflows"),
  ...bar("DAG wall vs Workflows (lower is better)", "dag_wall_crane_over_workflows"),
  ...bar("submit→done p50 vs Workflows (lower is better)", "done_p50_crane_over_workflows"),
  ...bar("DAG speed-up vs sequential", "dag_parallel_speedup"),
];
// Without Crane there are no ratios to draw: chart each system's calc throughput instead.
if (runCore)
  writeFileSync(
    `${base}.svg`,
    ratioBars.length
      ? barChart("Crane relative to Workflows and the floor (same machine, same workerd)", ratioBars)
      : barChart(
          "Calc throughput (same machine, same workerd)",
          systems.map((s) => ({ label: s, value: results[s]!.throughput.runs_per_s, unit: "runs/s" })),
        ),
  );
console.log(`\n${runCore || runAgent ? md : (scaleBlock ?? "")}`);
