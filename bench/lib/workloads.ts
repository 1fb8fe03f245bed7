/**
 * The three workloads, run the same way against every system: calc throughput from a fixed number
 * of clients, one DAG at a time (wall time against its critical path), and a fan-out of many DAGs
 * submitted at once.
 */
import { median, percentile, round } from "./stats.ts";
import { awaitTerminal, gate, runOnce, submit, type System, type Watch } from "./systems.ts";

export interface Sizes {
  runs: number;
  concurrency: number;
  fanout: number;
  /** Requests the fan-out client keeps in flight, POSTs and polls together. */
  fanoutConnections: number;
  fanoutTimeoutMs: number;
  /** The fan-out gives its unfinished runs up after this long without progress. */
  fanoutStallMs: number;
  delayMs: number;
  repeats: number;
  upstream: string;
  /** Requests the upstream has answered so far: the DAGs' fetches, progress a client cannot see. */
  upstreamHits(): number;
}

export interface ThroughputResult {
  runs: number;
  runs_per_s: number;
  post_p50: number;
  post_p95: number;
  post_p99: number;
  done_p50: number;
  done_p99: number;
  failed: number;
}
export interface DagResult {
  wall_ms: number;
  critical_path_ms: number;
  sequential_ms?: number;
  speedup?: number;
}
export interface FanoutResult {
  runs: number;
  completed: number;
  /** Runs given up after no progress for the stall time (not failed, not finished). */
  abandoned: number;
  /** Runs whose POST or poll failed or timed out. */
  errors: number;
  /** From the first POST to the last answer accepting a run. */
  submit_s: number;
  /** From the first POST to the last run seen terminal (abandoned and errored runs excluded). */
  wall_s: number;
  /** From the first POST to the median run seen terminal (errors and timeouts excluded). */
  done_p50_s: number;
  steps_per_s: number;
  /** Upstream fetches per run: 8 when no fetch was tried twice (a retry shows as more). */
  upstream_fetches_per_run: number;
  /** GET polls the client sent per run: a system that answers polls faster is polled more often, and its CPU includes them. */
  polls_per_run?: number;
}

/** Eight parallel fetches of the upstream (each `delayMs` long) and a join: a critical path of one fetch. */
export const DAG_FETCHES = 8;
export const DAG_STEPS = DAG_FETCHES + 1;
export const dagUrls = (s: Sizes, tag: string) => Array.from({ length: DAG_FETCHES }, (_, i) => `${s.upstream}/ok?delay_ms=${s.delayMs}&b=${tag}-${i}`);

export async function throughput(system: System, s: Sizes): Promise<ThroughputResult> {
  const observed: { post_ms: number; total_ms: number; status: string }[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: s.concurrency }, async () => {
      while (next < s.runs) {
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

export async function dag(system: System, s: Sizes, sequentialToo: boolean): Promise<DagResult> {
  const walls: number[] = [];
  const seq: number[] = [];
  for (let i = 0; i < s.repeats; i++) {
    walls.push((await runOnce(system, { kind: "dag", urls: dagUrls(s, `${system.name}-p${i}`) })).total_ms);
    if (sequentialToo) seq.push((await runOnce(system, { kind: "dag", urls: dagUrls(s, `${system.name}-s${i}`), sequential: true })).total_ms);
  }
  const wall_ms = round(median(walls));
  if (!sequentialToo) return { wall_ms, critical_path_ms: s.delayMs };
  const sequential_ms = round(median(seq));
  return { wall_ms, critical_path_ms: s.delayMs, sequential_ms, speedup: round(sequential_ms / wall_ms, 2) };
}

/**
 * Every DAG is handed to the client at the same instant; one client with a bounded connection
 * pool sends the POSTs (in order, first come first served) and then polls each run, so the wall
 * time runs from the first POST to the last run seen finished. A run that errs counts as not
 * completed instead of ending the benchmark, and when nothing moves for the stall time (no POST
 * answered, no upstream fetch, no run ending) the runs left are abandoned: a system that loses a
 * run does not hold the benchmark until the timeout. The stall rule is off by default
 * (`--fanout-stall-s 0`): it abandoned about 100 of Workflows' 1,000 DAGs that another harness saw
 * complete, because a Workflows step whose fetch fails under the fan-out's load waits out its
 * retry back-off (10 s, doubling: 160 s before the fifth try), longer than the 120 s stall window,
 * while nothing else moved. Every system now gets the same rule: finished, failed, or the timeout.
 */
export async function fanout(system: System, s: Sizes): Promise<FanoutResult> {
  const t0 = performance.now();
  let lastAccepted = t0;
  let lastEnded = t0;
  let moved = t0;
  let hits = s.upstreamHits();
  const hitsBefore = hits;
  const stalled = () => {
    if (s.fanoutStallMs <= 0) return false;
    if (s.upstreamHits() !== hits) {
      hits = s.upstreamHits();
      moved = performance.now();
    }
    return performance.now() - Math.max(moved, lastAccepted, lastEnded) > s.fanoutStallMs;
  };
  let polls = 0;
  const watch: Watch = {
    through: gate(s.fanoutConnections),
    requestTimeoutMs: s.fanoutStallMs,
    timeoutMs: s.fanoutTimeoutMs,
    abandon: stalled,
    onPoll: () => void polls++,
  };
  const errors: string[] = [];
  const ended = await Promise.all(
    Array.from({ length: s.fanout }, async (_, i) => {
      try {
        const id = await submit(system, { kind: "dag", urls: dagUrls(s, `${system.name}-f${i}`) }, watch);
        lastAccepted = Math.max(lastAccepted, performance.now());
        const end = await awaitTerminal(system, id, t0, watch);
        if (end.status !== "abandoned") lastEnded = Math.max(lastEnded, performance.now());
        return end;
      } catch (err) {
        errors.push(String(err));
        return null;
      }
    }),
  );
  if (errors.length) console.warn(`${system.name}: ${errors.length} fan-out runs failed to answer; first: ${errors[0]}`);
  const finished = ended.flatMap((e) => (e && e.status !== "abandoned" ? [e] : []));
  const completed = finished.filter((e) => e.status === "completed").length;
  const abandoned = ended.filter((e) => e?.status === "abandoned").length;
  if (abandoned) console.warn(`${system.name}: ${abandoned} fan-out runs abandoned after ${s.fanoutStallMs / 1000} s without progress`);
  const wall_s = (lastEnded - t0) / 1000;
  return {
    runs: s.fanout,
    completed,
    abandoned,
    errors: errors.length,
    submit_s: round((lastAccepted - t0) / 1000, 2),
    wall_s: round(wall_s, 2),
    done_p50_s: round(
      percentile(
        finished.map((e) => e.total_ms / 1000),
        50,
      ),
      2,
    ),
    steps_per_s: round((completed * DAG_STEPS) / wall_s),
    upstream_fetches_per_run: round((s.upstreamHits() - hitsBefore) / s.fanout, 2),
    // The process group's CPU over the fan-out includes answering these.
    polls_per_run: round(polls / s.fanout, 1),
  };
}
