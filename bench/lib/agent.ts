/**
 * The agent workload (issue 30): a tool-calling loop of `turns` turns, each a model call that
 * answers after `modelMs` with one `Http.get` of the upstream taking `toolMs`, then one more model
 * call that answers with text. Measured three ways on the same machine: Crane's `Agent.run`, the
 * AI SDK's own loop in one plain Worker (the floor, no durability) and a Workflow with each model
 * call and each tool call a `step.do`. Per system: the wall time of single runs, one at a time,
 * and of a burst of runs started at once; for Crane, the operations per turn from GET …/usage.
 */
import type { Server } from "node:http";
import { z } from "zod";
import { scriptedModelUrl, startScriptedModel, type ScriptedTurn } from "../../test/llm/scripted-model.ts";
import { costPerMillionRuns, EXTRA_PRICES_PER_MILLION, PRICES_PER_MILLION } from "./pricing.ts";
import { median, percentile, round } from "./stats.ts";
import { awaitTerminal, gate, runOnce, submit, type System, type Workload } from "./systems.ts";
import { breakerTotals, getJson, QUEUED_ROW_D1_ROWS, settledBreakerTotals } from "./usage.ts";

export interface AgentSizes {
  /** Turns with a tool call; the loop makes one more model call, which answers. */
  turns: number;
  modelMs: number;
  toolMs: number;
  /** Single runs, one after another (the median is the wall time compared). */
  runs: number;
  /** Runs started at once. */
  burst: number;
  /** Requests in flight for the burst's polls (its POSTs all go at once). */
  pollConnections: number;
  /**
   * The pause between one burst run's polls. Polling hundreds of runs every 5 ms through wrangler
   * dev's proxy was the heaviest load on the machine (10 runs took 12 s for Crane and Workflows
   * alike in a trial), and it slows the model server and upstream that share this process.
   */
  burstPollMs: number;
  /** Crane runs whose GET …/usage is read, one at a time. */
  usageSamples: number;
  upstream: string;
}

export const AGENT_MODEL = "bench-agent";

export interface BenchModel {
  /** The OpenAI-compatible base URL (…/v1) every system is given. */
  baseUrl: string;
  /** Registers the script again (its counters start over), before each system. */
  reset(): Promise<void>;
  /** Model calls made since the last reset. */
  calls(): Promise<number>;
  close(): void;
}

/** The model: turns 0..turns-1 each ask for one Http.get of the upstream; the next one answers. */
export async function startBenchModel(s: AgentSizes): Promise<BenchModel> {
  const server: Server = await startScriptedModel();
  const base = scriptedModelUrl(server);
  const turns: ScriptedTurn[] = [
    ...Array.from({ length: s.turns }, (_, i) => ({
      latency_ms: s.modelMs,
      tool_calls: [{ id: `call_t${i}`, name: "Http__get", arguments: { url: `${s.upstream}/ok?delay_ms=${s.toolMs}` } }],
    })),
    { latency_ms: s.modelMs, text: "All pages fetched; done." },
  ];
  const scriptPath = `${base}/scripts/${AGENT_MODEL}`;
  return {
    baseUrl: `${base}/v1`,
    reset: async () => {
      const res = await fetch(scriptPath, { method: "PUT", body: JSON.stringify({ turns }) });
      if (!res.ok) throw new Error(`the bench model refused its script: ${res.status}`);
    },
    calls: async () => {
      const { calls } = (await (await fetch(scriptPath)).json()) as { calls: Record<string, number> };
      return Object.values(calls).reduce((a, b) => a + b, 0);
    },
    close: () => server.close(),
  };
}

export interface AgentResult {
  single: { runs: number; failed: number; wall_ms_median: number; wall_ms_p90: number; wall_ms_min: number };
  burst: { runs: number; completed: number; errors: number; submit_s: number; wall_s: number; done_p50_s: number };
  /** Model calls the model server answered per run started (warm-up and samples included): more than turns + 1 means a call was made again. */
  model_calls_per_run: number;
  /** Crane: operations per run and per turn, from GET …/usage. */
  operations?: AgentOperations;
  /** Workflows: steps per run, from the instance's output. */
  workflow_steps_per_run?: number;
  /** List-price USD per million runs (model and upstream not included). */
  usd_per_million_runs?: number;
}

export interface AgentOperations {
  samples: number;
  model_calls: number;
  tool_calls: number;
  /** Every DO request the run's usage counts: its own object's and the shared objects' it called (the tenant's limiter). */
  do_requests: number;
  /** Of do_requests, those to shared objects (usage.shared_requests: the tenant limiter's slot taken and given back). */
  shared_requests: number;
  breaker_requests: number;
  storage_rows_written: number;
  queue_messages: number;
  queued_attempts: number;
  d1_rows_written: number;
  /** The run object's own DO requests / model calls (a turn is one model call and the calls it asks for). */
  own_requests_per_turn: number;
  /** Every DO request the run's usage counts (own and the limiter's) / model calls. */
  do_requests_per_turn: number;
  /** The same with the breakers' DO requests the runs caused. */
  do_requests_per_turn_with_breakers: number;
  /** Queue messages / (model calls + queued tool calls): 1 is one message each. */
  queue_messages_per_queued_call: number;
}

export const agentWorkload = (s: AgentSizes): Workload => ({ kind: "agent", goal: "Fetch the page, then answer.", maxTurns: s.turns + 1 });

const craneUsageSchema = z.object({
  do_requests: z.number(),
  storage_rows_written: z.number(),
  queue_messages: z.number(),
  queued_attempts: z.number(),
  d1_rows_written: z.number(),
  // Rows sent to the read-model queue (a run still going 2 s after its POST sends its creation row); older Crane sends none.
  read_model_rows: z.number().default(0),
  llm: z.object({ calls: z.number() }),
  // Requests to shared objects among do_requests, by class; older Crane counts none.
  shared_requests: z.record(z.string(), z.number()).default({}),
});

/** The agent step's `tool_calls` in a run resource, wherever the run shows its step output. */
function toolCallsIn(value: unknown): number | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const o = value as Record<string, unknown>;
  if (typeof o.tool_calls === "number" && typeof o.turns === "number") return o.tool_calls;
  for (const v of Object.values(o)) {
    const found = toolCallsIn(v);
    if (found !== undefined) return found;
  }
  return undefined;
}

async function craneOperations(system: System, s: AgentSizes): Promise<AgentOperations> {
  const before = system.breakersPath ? await settledBreakerTotals(system) : await breakerTotals(system);
  const sum = {
    model_calls: 0,
    tool_calls: 0,
    do_requests: 0,
    shared_requests: 0,
    storage_rows_written: 0,
    queue_messages: 0,
    queued_attempts: 0,
    d1_rows_written: 0,
    read_model_rows: 0,
  };
  for (let i = 0; i < s.usageSamples; i++) {
    const run = await runOnce(system, agentWorkload(s));
    if (run.status !== "completed") throw new Error(`${system.name}: agent run ${run.id} ended ${run.status}`);
    const u = await getJson(system, system.usagePath!(run.id), craneUsageSchema);
    const resource = await getJson(system, system.statusPath(run.id), z.unknown());
    sum.model_calls += u.llm.calls;
    sum.tool_calls += toolCallsIn(resource) ?? NaN;
    sum.do_requests += u.do_requests;
    sum.shared_requests += Object.values(u.shared_requests).reduce((a, b) => a + b, 0);
    sum.storage_rows_written += u.storage_rows_written;
    sum.queue_messages += u.queue_messages;
    sum.queued_attempts += u.queued_attempts;
    sum.d1_rows_written += u.d1_rows_written;
    sum.read_model_rows += u.read_model_rows;
  }
  const after = await breakerTotals(system);
  const per = (n: number) => round(n / s.usageSamples, 2);
  const breakerRequests = after.requests - before.requests;
  return {
    samples: s.usageSamples,
    model_calls: per(sum.model_calls),
    tool_calls: per(sum.tool_calls),
    do_requests: per(sum.do_requests),
    shared_requests: per(sum.shared_requests),
    breaker_requests: per(breakerRequests),
    storage_rows_written: per(sum.storage_rows_written + (after.rows - before.rows)),
    queue_messages: per(sum.queue_messages),
    queued_attempts: per(sum.queued_attempts),
    // A queued row's D1 rows are its consumer's, priced as the most it can write.
    d1_rows_written: per(sum.d1_rows_written + QUEUED_ROW_D1_ROWS * sum.read_model_rows),
    own_requests_per_turn: round((sum.do_requests - sum.shared_requests) / sum.model_calls, 2),
    do_requests_per_turn: round(sum.do_requests / sum.model_calls, 2),
    do_requests_per_turn_with_breakers: round((sum.do_requests + breakerRequests) / sum.model_calls, 2),
    // Every tool call here is Http.get, a queue tool.
    queue_messages_per_queued_call: round((sum.queue_messages - sum.read_model_rows) / (sum.model_calls + sum.tool_calls), 2),
  };
}

const craneCost = (o: AgentOperations) =>
  round(
    costPerMillionRuns({
      worker_requests: 1 + o.queue_messages, // the POST, and at most one consumer invocation per message
      do_requests: o.do_requests + o.breaker_requests,
      do_rows_written: o.storage_rows_written,
      queue_operations: 3 * o.queue_messages,
      d1_rows_written: o.d1_rows_written,
    }),
    2,
  );

/** The POST, the instance, and each step at the Workflows step price. */
const workflowsCost = (steps: number) => round(2 * PRICES_PER_MILLION.worker_requests + steps * EXTRA_PRICES_PER_MILLION.workflow_steps, 2);

async function burst(system: System, s: AgentSizes): Promise<AgentResult["burst"]> {
  const posts = gate(s.burst);
  const polls = gate(s.pollConnections);
  const t0 = performance.now();
  let lastAccepted = t0;
  let lastEnded = t0;
  const errors: string[] = [];
  const ended = await Promise.all(
    Array.from({ length: s.burst }, async () => {
      try {
        const id = await submit(system, agentWorkload(s), { through: posts, timeoutMs: 600_000 });
        lastAccepted = Math.max(lastAccepted, performance.now());
        const end = await awaitTerminal(system, id, t0, { through: polls, timeoutMs: 600_000, pollMs: s.burstPollMs });
        lastEnded = Math.max(lastEnded, performance.now());
        return end;
      } catch (err) {
        errors.push(String(err));
        return null;
      }
    }),
  );
  if (errors.length) console.warn(`${system.name}: ${errors.length} agent burst runs failed to answer; first: ${errors[0]}`);
  const finished = ended.flatMap((e) => (e ? [e] : []));
  return {
    runs: s.burst,
    completed: finished.filter((e) => e.status === "completed").length,
    errors: errors.length,
    submit_s: round((lastAccepted - t0) / 1000, 2),
    wall_s: round((lastEnded - t0) / 1000, 2),
    done_p50_s: round(
      percentile(
        finished.map((e) => e.total_ms / 1000),
        50,
      ),
      2,
    ),
  };
}

/** Workflows' steps per run: its agent output counts them. */
async function workflowSteps(system: System, s: AgentSizes): Promise<number> {
  const run = await runOnce(system, agentWorkload(s));
  const { output } = await getJson(system, system.statusPath(run.id), z.object({ output: z.object({ steps: z.number() }) }));
  return output.steps;
}

export async function agent(system: System, s: AgentSizes, model: BenchModel): Promise<AgentResult> {
  await model.reset();
  let started = 0;
  const once = async () => {
    started++;
    return runOnce(system, agentWorkload(s), 120_000);
  };
  // Warm-up: module loading, the first objects and the first connections.
  for (let i = 0; i < 2; i++) await once();
  const walls: number[] = [];
  let failed = 0;
  for (let i = 0; i < s.runs; i++) {
    const run = await once();
    if (run.status !== "completed") failed++;
    walls.push(run.total_ms);
  }
  const single = {
    runs: s.runs,
    failed,
    wall_ms_median: round(median(walls)),
    wall_ms_p90: round(percentile(walls, 90)),
    wall_ms_min: round(Math.min(...walls)),
  };
  console.log("agent single", single);
  const operations = system.usagePath ? await craneOperations(system, s) : undefined;
  if (operations) {
    started += s.usageSamples;
    console.log("agent operations per run", operations);
  }
  const steps = system.name === "workflows" ? await workflowSteps(system, s) : undefined;
  if (steps !== undefined) started++;
  const b = await burst(system, s);
  started += s.burst;
  console.log("agent burst", b);
  const calls = await model.calls();
  return {
    single,
    burst: b,
    model_calls_per_run: round(calls / started, 2),
    ...(operations ? { operations, usd_per_million_runs: craneCost(operations) } : {}),
    ...(steps !== undefined ? { workflow_steps_per_run: steps, usd_per_million_runs: workflowsCost(steps) } : {}),
  };
}
