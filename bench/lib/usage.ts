/**
 * What a run costs in billable operations: the run's own counters (GET .../usage) plus, for Crane
 * with breakers on, the requests and rows its runs caused in the breakers (the change in
 * GET /breakers across the sampled runs, which run one after another).
 */
import { z } from "zod";
import { costPerMillionRuns, type Usage } from "./pricing.ts";
import { round } from "./stats.ts";
import { runOnce, type System, type Workload } from "./systems.ts";

const runUsageSchema = z.object({
  do_requests: z.number(),
  storage_rows_written: z.number(),
  queue_messages: z.number(),
  d1_statements: z.number(),
  d1_rows_written: z.number(),
  // Step attempts that went through the queue; older Crane does not count it, and there every
  // queue message is one attempt, so queue_messages stands in.
  queued_attempts: z.number().optional(),
  // Rows sent to the read-model queue (counted in queue_messages); older Crane sends none.
  read_model_rows: z.number().default(0),
});
const breakersSchema = z.object({ breakers: z.array(z.object({ tool: z.string(), requests: z.number(), rows_written: z.number() })) });

/**
 * How many times this process has read each breaker's status. A breaker counts every request it
 * serves, the status read that answers GET /breakers included, so the bench's own reads are taken
 * off: otherwise the totals never settle and each read shows up as a run's breaker request.
 */
const reads = new Map<string, number>();

/** Averages per run. */
export interface RunCounters {
  do_requests: number;
  breaker_requests: number;
  storage_rows_written: number;
  breaker_rows_written: number;
  queue_messages: number;
  queued_attempts: number;
  d1_statements: number;
  d1_rows_written: number;
  /** Of queue_messages, rows sent to the read-model queue: their D1 rows are written by its consumer, not counted in d1_rows_written. */
  read_model_rows: number;
  /** Which counter queued_attempts came from. */
  queued_attempts_from: "queued_attempts" | "queue_messages";
}

export interface UsageResult {
  counters: RunCounters;
  billable: Usage;
  usd_per_million_runs: number;
}

export async function getJson<T>(system: System, path: string, schema: z.ZodType<T>): Promise<T> {
  const res = await fetch(system.url + path, { headers: system.headers });
  if (res.status !== 200) throw new Error(`${system.name}: GET ${path} answered ${res.status}`);
  return schema.parse(await res.json());
}

export async function breakerTotals(system: System): Promise<{ requests: number; rows: number }> {
  if (!system.breakersPath) return { requests: 0, rows: 0 };
  const { breakers } = await getJson(system, system.breakersPath, breakersSchema);
  let requests = 0;
  for (const b of breakers) {
    const key = `${system.url} ${b.tool}`;
    const n = (reads.get(key) ?? 0) + 1;
    reads.set(key, n);
    requests += b.requests - n;
  }
  return { requests, rows: breakers.reduce((n, b) => n + b.rows_written, 0) };
}

/**
 * The breakers' totals once they stop moving (no change over a second, or a minute at most):
 * after heavy load, step messages sent again for runs long finished can still reach the
 * breakers, and they are not the sampled runs' cost.
 */
export async function settledBreakerTotals(system: System): Promise<{ requests: number; rows: number }> {
  let last = await breakerTotals(system);
  const deadline = performance.now() + 60_000;
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const now = await breakerTotals(system);
    if (now.requests === last.requests && now.rows === last.rows) return now;
    if (performance.now() > deadline) {
      console.warn(`${system.name}: breaker counts still moving after a minute; breaker requests per run may include other runs'`);
      return now;
    }
    last = now;
  }
}

/** D1 rows a row sent to the read-model queue writes at most (the runs row and its three indexes' entries, on insert). */
export const QUEUED_ROW_D1_ROWS = 4;

/** Runs `samples` runs of a workload one after another and averages what each cost. */
export async function measureUsage(system: System, workload: (i: number) => Workload, samples: number): Promise<UsageResult> {
  const usagePath = system.usagePath;
  if (!usagePath) throw new Error(`${system.name} does not count its operations`);
  const before = system.breakersPath ? await settledBreakerTotals(system) : await breakerTotals(system);
  const sum = { do_requests: 0, storage_rows_written: 0, queue_messages: 0, queued_attempts: 0, d1_statements: 0, d1_rows_written: 0, read_model_rows: 0 };
  let counted = true;
  for (let i = 0; i < samples; i++) {
    const run = await runOnce(system, workload(i));
    const u = await getJson(system, usagePath(run.id), runUsageSchema);
    counted &&= u.queued_attempts !== undefined;
    sum.do_requests += u.do_requests;
    sum.storage_rows_written += u.storage_rows_written;
    sum.queue_messages += u.queue_messages;
    sum.queued_attempts += u.queued_attempts ?? u.queue_messages;
    sum.d1_statements += u.d1_statements;
    sum.d1_rows_written += u.d1_rows_written;
    sum.read_model_rows += u.read_model_rows;
  }
  const after = await breakerTotals(system);
  const per = (n: number) => round(n / samples, 2);
  const counters: RunCounters = {
    do_requests: per(sum.do_requests),
    breaker_requests: per(after.requests - before.requests), // each admit or record is a DO request
    storage_rows_written: per(sum.storage_rows_written),
    breaker_rows_written: per(after.rows - before.rows),
    queue_messages: per(sum.queue_messages),
    queued_attempts: per(sum.queued_attempts),
    d1_statements: per(sum.d1_statements),
    d1_rows_written: per(sum.d1_rows_written),
    read_model_rows: per(sum.read_model_rows),
    queued_attempts_from: counted ? "queued_attempts" : "queue_messages",
  };
  const billable: Usage = {
    // The POST, plus at most one consumer invocation per message (batches share one).
    worker_requests: round(1 + counters.queue_messages, 2),
    do_requests: round(counters.do_requests + counters.breaker_requests, 2),
    do_rows_written: round(counters.storage_rows_written + counters.breaker_rows_written, 2),
    queue_operations: round(3 * counters.queue_messages, 2),
    // A queued row is priced as the most it can write: the row and its three index entries (an insert).
    d1_rows_written: round(counters.d1_rows_written + QUEUED_ROW_D1_ROWS * counters.read_model_rows, 2),
  };
  return { counters, billable, usd_per_million_runs: round(costPerMillionRuns(billable), 2) };
}
