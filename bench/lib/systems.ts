/**
 * The systems under test, behind one interface so every workload is submitted and observed the
 * same way: POST to create, then GET the run every POLL_MS until it is terminal.
 */
import { authHeaders } from "../../scripts/local-runtime.ts";

export const POLL_MS = 5;
const TERMINAL = new Set(["completed", "failed", "cancelled"]);

export type Workload = { kind: "calc" } | { kind: "dag"; urls: string[]; sequential?: boolean };

export interface System {
  name: string;
  url: string;
  body(w: Workload): unknown;
  createPath: string;
  statusPath(id: string): string;
  /** Sent on every request to the system (Crane's API key). */
  headers: Record<string, string>;
}

export function crane(name: string, url: string): System {
  return {
    name,
    url,
    headers: authHeaders,
    createPath: "/api/v1/runs",
    statusPath: (id) => `/api/v1/runs/${id}`,
    body: (w) =>
      w.kind === "calc"
        ? { prompt: "calculate 2 + 3" }
        : {
            plan: {
              steps: [
                ...w.urls.map((u, i) => ({ step_number: i + 1, tool: "Http.get", input: { url: u } })),
                { step_number: w.urls.length + 1, tool: "Calculator.evaluate", input: { expression: w.urls.map(() => "1").join(" + ") }, depends_on: w.urls.map((_, i) => i + 1) },
              ],
            },
            ...(w.sequential ? { options: { max_parallelism: 1 } } : {}),
          },
  };
}

export function workflows(url: string): System {
  return {
    name: "workflows",
    url,
    headers: {},
    createPath: "/runs",
    statusPath: (id) => `/runs/${id}`,
    body: (w) => (w.kind === "calc" ? { workload: "calc" } : { workload: "dag", urls: w.urls }),
  };
}

export interface Observed {
  id: string;
  status: string;
  post_ms: number;
  total_ms: number;
}

/** Submits one run and polls it to the end. */
export async function runOnce(system: System, w: Workload, timeoutMs = 120_000): Promise<Observed> {
  const t0 = performance.now();
  const res = await fetch(system.url + system.createPath, { method: "POST", headers: { ...system.headers, "content-type": "application/json" }, body: JSON.stringify(system.body(w)) });
  const post_ms = performance.now() - t0;
  if (res.status !== 201) throw new Error(`${system.name}: POST answered ${res.status}: ${await res.text()}`);
  const { run_id } = (await res.json()) as { run_id: string };
  return { id: run_id, post_ms, ...(await awaitTerminal(system, run_id, t0, timeoutMs)) };
}

export async function awaitTerminal(system: System, id: string, t0: number, timeoutMs = 120_000): Promise<{ status: string; total_ms: number }> {
  for (;;) {
    const r = await fetch(system.url + system.statusPath(id), { headers: system.headers });
    if (r.status !== 200) throw new Error(`${system.name}: GET ${system.statusPath(id)} answered ${r.status}: ${errorText(await r.text())}`);
    const { status } = (await r.json()) as { status: string };
    if (TERMINAL.has(status)) return { status, total_ms: performance.now() - t0 };
    if (performance.now() - t0 > timeoutMs) throw new Error(`${system.name}: run ${id} not finished after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** wrangler dev answers an uncaught exception with an HTML page; keep only its message. */
function errorText(body: string): string {
  const m = /<h1[^>]*>([\s\S]*?)<\/h1>|"message":"([^"]*)"/.exec(body) ?? /(\w*Error: [^<\n]*)/.exec(body);
  return (m?.[1] ?? m?.[2] ?? body.slice(0, 300)).replace(/<[^>]+>/g, "").trim();
}
