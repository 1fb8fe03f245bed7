/**
 * Measures what the scale model (scale.ts) needs: for each workload (calc, the 9-step DAG, an
 * approval, a child run, an agent turn), the requests one run makes to its own objects and to each
 * class of shared object, its D1 statements and rows, and its queue messages. Runs are sampled one
 * after another on Crane with breakers on, for a tenant subscribed to every webhook event type (the
 * most a run's end can cost), so the breakers' request counts over the samples are these runs'.
 */
import { z } from "zod";
import { readFileSync } from "node:fs";
import { agentWorkload, startBenchModel, type AgentSizes } from "./agent.ts";
import { start, startForAgent, type Started } from "./runtimes.ts";
import { round } from "./stats.ts";
import type { Spread, WorkloadCounts } from "./scale.ts";
import { awaitTerminal, runOnce, submit, type System } from "./systems.ts";
import { getJson, settledBreakerTotals } from "./usage.ts";
import { dagUrls, type Sizes } from "./workloads.ts";

const usageSchema = z.object({
  do_requests: z.number(),
  queue_messages: z.number(),
  // Crane before the read-model queue sent none.
  read_model_rows: z.number().default(0),
  // Step attempts; Crane before this counter counted every message as one.
  queued_attempts: z.number().optional(),
  d1_statements: z.number(),
  d1_rows_written: z.number(),
  // Older Crane counts no shared requests: all of its requests then look like the run's own.
  shared_requests: z.record(z.string(), z.number()).default({}),
  llm: z.object({ calls: z.number() }).optional(),
});
type RunUsage = z.infer<typeof usageSchema>;

/** The shared classes whose objects a tenant's runs spread over, and the wrangler.toml var that says how many. */
const SPREAD_VARS: Record<string, string> = {
  tenant_limiter: "TENANT_SLOT_SHARDS",
  step_queue: "STEP_QUEUE_SHARDS",
  webhook_queue: "WEBHOOK_QUEUE_SHARDS",
  read_model_queue: "READ_MODEL_QUEUE_SHARDS",
};

/** Objects per tenant of each spread class, from wrangler.toml's [vars] (1 when a var is absent). */
export function spreadFromConfig(toml = readFileSync("wrangler.toml", "utf8")): { spread: Spread; from: string } {
  const spread: Spread = {};
  const said: string[] = [];
  for (const [cls, name] of Object.entries(SPREAD_VARS)) {
    const m = new RegExp(`^${name}\\s*=\\s*"?(\\d+)"?`, "m").exec(toml);
    spread[cls] = m ? Math.max(1, Number(m[1])) : 1;
    said.push(`${cls} ${spread[cls]} (${name}${m ? " in wrangler.toml" : " not set: 1"})`);
  }
  return { spread, from: `${said.join("; ")}; every other class 1 per tenant (a breaker is one per tenant and tool)` };
}

/** One sample: the runs whose usage adds up to one unit of the workload, and what to divide by (1, or an agent's model calls). */
type Sample = (i: number) => Promise<{ runIds: string[]; units?: (usages: RunUsage[]) => number }>;

async function usageOf(system: System, id: string): Promise<RunUsage> {
  return getJson(system, system.usagePath!(id), usageSchema);
}

async function measure(system: System, workload: string, unit: string, samples: number, sample: Sample): Promise<WorkloadCounts> {
  const before = await settledBreakerTotals(system);
  const sum = { own: 0, d1_statements: 0, d1_rows_written: 0, queue_messages: 0, read_model_rows: 0, queued_attempts: 0, units: 0 };
  const shared: Record<string, number> = {};
  for (let i = 0; i < samples; i++) {
    const { runIds, units } = await sample(i);
    const usages = await Promise.all(runIds.map((id) => usageOf(system, id)));
    sum.units += units ? units(usages) : 1;
    for (const u of usages) {
      const toShared = Object.values(u.shared_requests).reduce((a, b) => a + b, 0);
      sum.own += u.do_requests - toShared;
      for (const [cls, n] of Object.entries(u.shared_requests)) shared[cls] = (shared[cls] ?? 0) + n;
      sum.d1_statements += u.d1_statements;
      sum.d1_rows_written += u.d1_rows_written;
      sum.queue_messages += u.queue_messages;
      sum.read_model_rows += u.read_model_rows;
      sum.queued_attempts += u.queued_attempts ?? u.queue_messages - u.read_model_rows;
    }
  }
  // A breaker's requests belong to no run's meter: the change over these runs, one after another, is theirs.
  const after = await settledBreakerTotals(system);
  if (after.requests > before.requests) shared.tool_breaker = after.requests - before.requests;
  const per = (n: number) => round(n / sum.units, 3);
  return {
    workload,
    unit,
    samples,
    own_requests: per(sum.own),
    shared: Object.fromEntries(Object.entries(shared).map(([cls, n]) => [cls, per(n)])),
    d1_statements: per(sum.d1_statements),
    d1_rows_written: per(sum.d1_rows_written),
    queue_messages: per(sum.queue_messages),
    read_model_rows: per(sum.read_model_rows),
    queued_attempts: per(sum.queued_attempts),
  };
}

async function postJson(system: System, path: string, body: unknown): Promise<Response> {
  return fetch(system.url + path, { method: "POST", headers: { ...system.headers, "content-type": "application/json" }, body: JSON.stringify(body) });
}

/** Subscribes the tenant to every event type, delivered to `url` (a receiver that answers 200). */
async function subscribe(system: System, url: string): Promise<void> {
  const res = await postJson(system, "/api/v1/webhooks", { url, events: ["run.completed", "run.failed", "run.cancelled", "run.waiting"] });
  if (res.status !== 201) throw new Error(`${system.name}: POST /webhooks answered ${res.status}: ${await res.text()}`);
}

/** A run with one Human.approve step and a calculation after it, approved through the API once it waits. */
async function approvalRun(system: System): Promise<string> {
  const plan = {
    steps: [
      { step_number: 1, tool: "Human.approve", input: { message: "Go on?" } },
      { step_number: 2, tool: "Calculator.evaluate", input: { expression: "2 + 3" }, depends_on: [1] },
    ],
  };
  const id = await submit(system, { kind: "plan", plan });
  const t0 = performance.now();
  for (;;) {
    const { status } = await getJson(system, system.statusPath(id), z.object({ status: z.string() }));
    if (status === "waiting") break;
    if (performance.now() - t0 > 30_000) throw new Error(`${system.name}: approval run ${id} is ${status}, not waiting, after 30 s`);
    await new Promise((r) => setTimeout(r, 10));
  }
  const res = await postJson(system, `/api/v1/runs/${id}/steps/1/decision`, { decision: "approve" });
  if (res.status !== 200) throw new Error(`${system.name}: the decision answered ${res.status}: ${await res.text()}`);
  const end = await awaitTerminal(system, id, performance.now());
  if (end.status !== "completed") throw new Error(`${system.name}: approval run ${id} ended ${end.status}`);
  return id;
}

/** A run whose one step starts a child (Run.start, waited for) that calculates; answers both ids. */
async function childRun(system: System): Promise<string[]> {
  const child = { steps: [{ step_number: 1, tool: "Calculator.evaluate", input: { expression: "2 + 3" } }] };
  const plan = { steps: [{ step_number: 1, tool: "Run.start", input: { plan: child } }] };
  const run = await runOnce(system, { kind: "plan", plan });
  if (run.status !== "completed") throw new Error(`${system.name}: parent run ${run.id} ended ${run.status}`);
  const { children } = await getJson(system, system.statusPath(run.id), z.object({ children: z.array(z.object({ run_id: z.string() })) }));
  return [run.id, ...children.map((c) => c.run_id)];
}

export interface ScaleSizes {
  samples: number;
  sizes: Sizes;
  agent: AgentSizes;
}

async function withRuntime<T>(rt: Started, what: string, body: (system: System) => Promise<T>): Promise<T> {
  try {
    return await body(rt.system);
  } catch (err) {
    console.error(`${what} failed; the runtime's last output:\n${rt.output.join("").slice(-4000)}`);
    throw err;
  } finally {
    await rt.stop();
  }
}

/** Starts Crane (breakers on) twice, once with the bench's scripted model for the agent turn, and measures every workload. */
export async function measureScale(port: number, s: ScaleSizes): Promise<WorkloadCounts[]> {
  const hook = `${s.sizes.upstream}/ok?webhook=1`;
  const core = await withRuntime(await start("crane", port), "scale (crane)", async (system) => {
    await subscribe(system, hook);
    for (let i = 0; i < 3; i++) await runOnce(system, { kind: "calc" }); // warm-up
    const one = async (p: Promise<{ id: string; status: string }>) => {
      const r = await p;
      if (r.status !== "completed") throw new Error(`${system.name}: run ${r.id} ended ${r.status}`);
      return { runIds: [r.id] };
    };
    return [
      await measure(system, "calc", "run (ends in its POST)", s.samples, () => one(runOnce(system, { kind: "calc" }))),
      await measure(system, "DAG (8 fetches + join)", "run", s.samples, (i) => one(runOnce(system, { kind: "dag", urls: dagUrls(s.sizes, `scale-${i}`) }))),
      await measure(system, "approval", "run, approved through the API", s.samples, async () => ({ runIds: [await approvalRun(system)] })),
      await measure(system, "child", "parent + its child", s.samples, async () => ({ runIds: await childRun(system) })),
    ];
  });
  const model = await startBenchModel(s.agent);
  try {
    const agentRow = await withRuntime(
      await startForAgent("crane", port, { baseUrl: model.baseUrl, model: "bench-agent" }),
      "scale (agent)",
      async (system) => {
        await model.reset();
        await subscribe(system, hook);
        await runOnce(system, agentWorkload(s.agent)); // warm-up
        const workload = `agent turn (${s.agent.turns} tool turns + answer)`;
        return measure(system, workload, "model call (a run's counts ÷ its model calls)", s.samples, async () => {
          const r = await runOnce(system, agentWorkload(s.agent));
          if (r.status !== "completed") throw new Error(`${system.name}: agent run ${r.id} ended ${r.status}`);
          return { runIds: [r.id], units: (us) => us.reduce((n, u) => n + (u.llm?.calls ?? 0), 0) };
        });
      },
    );
    return [...core, agentRow];
  } finally {
    model.close();
  }
}
