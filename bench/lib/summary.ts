/**
 * Turns the per-system results into the ratios, the per-run operation counts and the markdown
 * table: a ratio or a cell only appears when the systems it needs ran (`--systems` may pick a few).
 */
import { EXTRA_PRICES_PER_MILLION, PRICES_PER_MILLION } from "./pricing.ts";
import type { UsageResult } from "./usage.ts";
import type { Row } from "./report.ts";
import { round } from "./stats.ts";
import { DAG_STEPS, type DagResult, type FanoutResult, type ThroughputResult } from "./workloads.ts";

export interface Result {
  throughput: ThroughputResult;
  dag: DagResult;
  fanout: FanoutResult;
  usage?: { calc: UsageResult; dag: UsageResult };
  /** CPU seconds of the system's process group per 1,000 runs: calc (throughput), DAG (fan-out). */
  cpu: { calc_s_per_1000_runs: number; dag_s_per_1000_runs: number };
  /** JSON log lines written per run: during the calc throughput and during the fan-out. */
  log_lines: { calc_per_run: number; dag_per_run: number; /** Which lines they were, by level and message. */ dag_per_run_by_message?: Record<string, number> };
}

/**
 * USD per million runs of each workload, logs included: the counted operations at list prices,
 * plus each log line as a Workers Logs event. For Workflows, which counts no operations: its
 * requests (the POST and the instance's invocation) and its steps (1 for calc, 9 for the DAG).
 * `with_cpu` adds the CPU measured here (wrangler dev and workerd, so an upper bound) at the
 * Workers Standard price.
 */
export function costs(name: string, r: Result): { calc: number; dag: number; calc_with_cpu: number; dag_with_cpu: number } | undefined {
  const logs = (lines: number) => lines * EXTRA_PRICES_PER_MILLION.log_events;
  const cpu = (sPer1000: number) => sPer1000 * EXTRA_PRICES_PER_MILLION.cpu_ms; // s per 1,000 runs = ms per run
  let calc: number;
  let dag: number;
  if (r.usage) {
    calc = r.usage.calc.usd_per_million_runs + logs(r.log_lines.calc_per_run);
    dag = r.usage.dag.usd_per_million_runs + logs(r.log_lines.dag_per_run);
  } else if (name === "workflows") {
    const perRun = (steps: number, lines: number) => 2 * PRICES_PER_MILLION.worker_requests + steps * EXTRA_PRICES_PER_MILLION.workflow_steps + logs(lines);
    calc = perRun(1, r.log_lines.calc_per_run);
    dag = perRun(DAG_STEPS, r.log_lines.dag_per_run);
  } else return undefined;
  return {
    calc: round(calc, 2),
    dag: round(dag, 2),
    calc_with_cpu: round(calc + cpu(r.cpu.calc_s_per_1000_runs), 2),
    dag_with_cpu: round(dag + cpu(r.cpu.dag_s_per_1000_runs), 2),
  };
}

/** The per-run operation counts the issue asks for, from the sampled usage. */
export interface Operations {
  calc_do_requests_per_run: number;
  calc_d1_statements_per_run: number;
  /** (run object DO requests + breaker DO requests) / queued step attempts, for one DAG run. */
  dag_do_requests_per_queued_attempt: number | null;
  /** queue messages / queued step attempts, for one DAG run. */
  dag_queue_messages_per_queued_attempt: number | null;
  dag_d1_statements_per_run: number;
  usd_per_million_calc_runs: number;
  usd_per_million_dag_runs: number;
}

export function operations(r: Result): Operations | undefined {
  if (!r.usage) return undefined;
  const { calc, dag } = r.usage;
  const attempts = dag.counters.queued_attempts;
  const perAttempt = (n: number) => (attempts > 0 ? round(n / attempts, 2) : null);
  return {
    calc_do_requests_per_run: calc.billable.do_requests,
    calc_d1_statements_per_run: calc.counters.d1_statements,
    dag_do_requests_per_queued_attempt: perAttempt(dag.counters.do_requests + dag.counters.breaker_requests),
    dag_queue_messages_per_queued_attempt: perAttempt(dag.counters.queue_messages),
    dag_d1_statements_per_run: dag.counters.d1_statements,
    usd_per_million_calc_runs: calc.usd_per_million_runs,
    usd_per_million_dag_runs: dag.usd_per_million_runs,
  };
}

export function ratios(results: Record<string, Result>): Record<string, number> {
  const { crane: c, workflows: w, floor: f } = results;
  const q = results["queue-floor"];
  const off = results["crane-no-breakers"];
  const out: Record<string, number> = {};
  const put = (name: string, value: number | undefined) => {
    if (value !== undefined && Number.isFinite(value)) out[name] = round(value, 2);
  };
  if (c && f) put("throughput_crane_over_floor", c.throughput.runs_per_s / f.throughput.runs_per_s);
  if (c && w) {
    put("throughput_crane_over_workflows", c.throughput.runs_per_s / w.throughput.runs_per_s);
    put("post_p99_crane_over_workflows", c.throughput.post_p99 / w.throughput.post_p99);
    put("done_p50_crane_over_workflows", c.throughput.done_p50 / w.throughput.done_p50);
    put("dag_wall_crane_over_workflows", c.dag.wall_ms / w.dag.wall_ms);
    put("fanout_steps_per_s_crane_over_workflows", c.fanout.steps_per_s / w.fanout.steps_per_s);
  }
  // The issue's targets (31), in its terms.
  if (c && f) put("post_p99_crane_over_floor", c.throughput.post_p99 / f.throughput.post_p99);
  if (c && q) {
    put("dag_wall_crane_over_queue_floor", c.dag.wall_ms / q.dag.wall_ms);
    put("fanout_steps_per_s_crane_over_queue_floor", c.fanout.steps_per_s / q.fanout.steps_per_s);
    put("cpu_per_dag_run_crane_over_queue_floor", c.cpu.dag_s_per_1000_runs / q.cpu.dag_s_per_1000_runs);
  }
  if (c && f) put("cpu_per_calc_run_crane_over_floor", c.cpu.calc_s_per_1000_runs / f.cpu.calc_s_per_1000_runs);
  if (c) {
    put("dag_wall_over_critical_path", c.dag.wall_ms / c.dag.critical_path_ms);
    put("dag_parallel_speedup", c.dag.speedup);
  }
  if (c && off) {
    put("breaker_cost_throughput_on_over_off", c.throughput.runs_per_s / off.throughput.runs_per_s);
    put("breaker_cost_done_p50_on_over_off", c.throughput.done_p50 / off.throughput.done_p50);
  }
  return out;
}

export function rows(results: Record<string, Result>, fanout: number, delayMs: number): Row[] {
  const systems = Object.keys(results);
  const cost = (pick: (c: NonNullable<ReturnType<typeof costs>>) => string) => (r: Result) => {
    const name = systems.find((s) => results[s] === r)!;
    const c = costs(name, r);
    return c ? pick(c) : undefined;
  };
  const row = (metric: string, cell: (r: Result) => number | string | null | undefined): Row => ({
    metric,
    values: Object.fromEntries(systems.map((s) => [s, cell(results[s]!) ?? "—"])),
  });
  const ops = (pick: (o: Operations) => number | null) => (r: Result) => {
    const o = operations(r);
    return o ? pick(o) : undefined;
  };
  return [
    row("throughput, runs/s (calc)", (r) => r.throughput.runs_per_s),
    row("POST latency p50 / p95 / p99, ms", (r) => `${r.throughput.post_p50} / ${r.throughput.post_p95} / ${r.throughput.post_p99}`),
    row("submit→completed p50 / p99, ms", (r) => `${r.throughput.done_p50} / ${r.throughput.done_p99}`),
    row(`DAG (8 × ${delayMs} ms + join) wall, ms`, (r) => r.dag.wall_ms),
    row("DAG with max_parallelism 1, ms", (r) => r.dag.sequential_ms),
    row(`fan-out: ${fanout} DAG runs at once, steps/s`, (r) => r.fanout.steps_per_s),
    row(
      "fan-out completed",
      (r) =>
        `${r.fanout.completed}/${r.fanout.runs}${r.fanout.abandoned ? ` (${r.fanout.abandoned} abandoned)` : ""}${r.fanout.errors ? ` (${r.fanout.errors} unanswered)` : ""}`,
    ),
    row("fan-out wall (all submitted after), s", (r) => `${r.fanout.wall_s} (${r.fanout.submit_s})`),
    row(
      "DO requests per calc run",
      ops((o) => o.calc_do_requests_per_run),
    ),
    row(
      "D1 statements per calc run",
      ops((o) => o.calc_d1_statements_per_run),
    ),
    row(
      "DO requests per queued step attempt (DAG)",
      ops((o) => o.dag_do_requests_per_queued_attempt),
    ),
    row(
      "queue messages per queued step attempt (DAG)",
      ops((o) => o.dag_queue_messages_per_queued_attempt),
    ),
    row(
      "D1 statements per DAG run",
      ops((o) => o.dag_d1_statements_per_run),
    ),
    row("CPU s per 1,000 calc runs (process group)", (r) => r.cpu.calc_s_per_1000_runs),
    row(`CPU s per 1,000 DAG runs (process group, fan-out)`, (r) => r.cpu.dag_s_per_1000_runs),
    row("log lines per calc run", (r) => r.log_lines.calc_per_run),
    row("log lines per DAG run (fan-out)", (r) => r.log_lines.dag_per_run),
    row(
      "cost per million calc runs, USD, logs included (+ CPU)",
      cost((c) => `${c.calc} (${c.calc_with_cpu})`),
    ),
    row(
      "cost per million DAG runs, USD, logs included (+ CPU)",
      cost((c) => `${c.dag} (${c.dag_with_cpu})`),
    ),
  ];
}
