/**
 * The benchmark's queue floor. POST /runs { workload: "calc" } or { workload: "dag", urls: [...] }
 * makes one request to the run's QueueFloorRun and answers 201 { run_id, status }; a DAG's fetches
 * then travel by queue, one message each, and the consumer reports each to the object. GET /runs/:id
 * and GET /runs/:id/usage answer the shapes the benchmark reads from Crane and the floor.
 */
import type { QueueFloorEnv, StepMessage, Workload } from "./queue-floor-run";

export { QueueFloorRun } from "./queue-floor-run";

function parseWorkload(body: unknown): Workload | null {
  if (typeof body !== "object" || body === null || !("workload" in body)) return null;
  if (body.workload === "calc") return { workload: "calc" };
  if (body.workload !== "dag" || !("urls" in body) || !Array.isArray(body.urls)) return null;
  const urls = body.urls.filter((u): u is string => typeof u === "string");
  return urls.length === body.urls.length && urls.length > 0 ? { workload: "dag", urls } : null;
}

const error = (status: number, code: string, message: string) => Response.json({ error: { code, message } }, { status });

export default {
  async fetch(request: Request, env: QueueFloorEnv): Promise<Response> {
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

  /** Fetches each message's URL and reports once per message; every message is acked. */
  async queue(batch: MessageBatch<StepMessage>, env: QueueFloorEnv): Promise<void> {
    await Promise.all(
      batch.messages.map(async (m) => {
        const { run_id, step, url } = m.body;
        let ok = false;
        try {
          const res = await fetch(url);
          await res.arrayBuffer();
          ok = res.status < 500;
        } catch {
          ok = false;
        }
        await env.RUNS.getByName(run_id).report(step, ok);
      }),
    );
  },
} satisfies ExportedHandler<QueueFloorEnv, StepMessage>;
