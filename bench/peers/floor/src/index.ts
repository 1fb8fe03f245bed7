/**
 * The benchmark's floor: the physical limit of a durable run on this platform.
 * POST /runs { workload: "calc" } or { workload: "dag", urls: [...] } makes exactly one request
 * (RPC) to the run's FloorRun and answers 201 { run_id, status } once the run has ended.
 * GET /runs/:id answers { run_id, status }, GET /runs/:id/usage the run's billable operations:
 * the same shapes the benchmark reads from Crane.
 */
import type { FloorEnv, Workload } from "./floor-run";

export { FloorRun } from "./floor-run";

function parseWorkload(body: unknown): Workload | null {
  if (typeof body !== "object" || body === null || !("workload" in body)) return null;
  if (body.workload === "calc") return { workload: "calc" };
  if (body.workload !== "dag" || !("urls" in body) || !Array.isArray(body.urls)) return null;
  const urls = body.urls.filter((u): u is string => typeof u === "string");
  return urls.length === body.urls.length && urls.length > 0 ? { workload: "dag", urls } : null;
}

const error = (status: number, code: string, message: string) => Response.json({ error: { code, message } }, { status });

export default {
  async fetch(request: Request, env: FloorEnv): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === "/health") return Response.json({ status: "ok" });
    if (request.method === "POST" && url.pathname === "/runs") {
      const workload = parseWorkload(await request.json().catch(() => null));
      if (!workload) return error(400, "invalid_body", 'expected { workload: "calc" } or { workload: "dag", urls: [...] }');
      const runId = crypto.randomUUID();
      return Response.json(await env.RUNS.getByName(runId).create(runId, workload), { status: 201 });
    }
    const match = /^\/runs\/([\w-]+)(\/usage)?$/.exec(url.pathname);
    if (request.method === "GET" && match) {
      const runId = match[1]!;
      const run = env.RUNS.getByName(runId);
      const status = await run.getStatus();
      if (status === null) return error(404, "not_found", `no run ${runId}`);
      return Response.json(match[2] ? { run_id: runId, ...(await run.getUsage()) } : { run_id: runId, status });
    }
    return error(404, "not_found", "POST /runs, GET /runs/:id or GET /runs/:id/usage");
  },
} satisfies ExportedHandler<FloorEnv>;
