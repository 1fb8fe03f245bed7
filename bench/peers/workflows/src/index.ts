/**
 * The benchmark peer: the same workloads as Crane's benchmark, as a Cloudflare Workflow.
 * POST /runs { workload: "calc" }, { workload: "dag", urls: [...] } or { workload: "agent", goal,
 * max_turns } creates an instance; GET /runs/:id answers { status } — the same shape the benchmark
 * polls Crane with (and, once ended, the instance's output: an agent's step count).
 */
import { WorkflowEntrypoint, type WorkflowEvent, type WorkflowStep } from "cloudflare:workers";
import { evaluateExpression } from "../../../../src/tools/calculator/parser";
import { agentLoop, type AgentParams, type ModelEnv } from "./agent";

interface PeerEnv extends ModelEnv {
  BENCH_WORKFLOW: Workflow<Params>;
}

type Params = { workload: "calc" } | { workload: "dag"; urls: string[] } | AgentParams;

export class BenchWorkflow extends WorkflowEntrypoint<PeerEnv, Params> {
  override async run(event: WorkflowEvent<Params>, step: WorkflowStep): Promise<unknown> {
    const params = event.payload;
    if (params.workload === "calc") return step.do("calculate", async () => evaluateExpression("2 + 3"));
    if (params.workload === "agent") return agentLoop(this.env, params, step);
    // Parallel steps, then a join: the same DAG Crane runs.
    const statuses = await Promise.all(
      params.urls.map((url, i) =>
        step.do(`fetch ${i}`, async () => {
          const res = await fetch(url);
          await res.arrayBuffer();
          if (res.status >= 500) throw new Error(`upstream answered ${res.status}`);
          return res.status;
        }),
      ),
    );
    return step.do("join", async () => evaluateExpression(statuses.map(() => "1").join(" + ")));
  }
}

const TERMINAL: Record<string, string> = { complete: "completed", errored: "failed", terminated: "cancelled" };

export default {
  async fetch(request: Request, env: PeerEnv): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === "/health") return Response.json({ status: "ok" });
    if (request.method === "POST" && url.pathname === "/runs") {
      const params = (await request.json()) as Params;
      const instance = await env.BENCH_WORKFLOW.create({ params });
      return Response.json({ run_id: instance.id, status: "pending" }, { status: 201 });
    }
    const match = /^\/runs\/([\w-]+)$/.exec(url.pathname);
    if (request.method === "GET" && match) {
      try {
        const instance = await env.BENCH_WORKFLOW.get(match[1]!);
        const { status, output } = await instance.status();
        return Response.json({ run_id: match[1], status: TERMINAL[status] ?? "running", ...(TERMINAL[status] ? { output } : {}) });
      } catch (err) {
        // Local Workflows can answer not_found for an instance created a moment ago: not yet visible.
        if (String(err).includes("instance.not_found")) return Response.json({ run_id: match[1], status: "pending" });
        return Response.json({ error: { code: "status_failed", message: String(err) } }, { status: 500 });
      }
    }
    return Response.json({ error: { code: "not_found", message: "POST /runs or GET /runs/:id" } }, { status: 404 });
  },
} satisfies ExportedHandler<PeerEnv>;
