/**
 * The systems under test, behind one interface so every workload is submitted and observed the
 * same way: POST to create, then GET the run every POLL_MS until it is terminal.
 */
import { authHeaders } from "../../scripts/local-runtime.ts";
import { TERMINAL_RUN_STATUSES } from "../../src/execution/statuses.ts";

export const POLL_MS = 5;
const TERMINAL: ReadonlySet<string> = new Set(TERMINAL_RUN_STATUSES);

export type Workload =
  | { kind: "calc" }
  | { kind: "dag"; urls: string[]; sequential?: boolean }
  | { kind: "agent"; goal: string; maxTurns: number }
  /** Crane only: any plan as written (the scale model's approval and child runs). */
  | { kind: "plan"; plan: unknown };

export interface System {
  name: string;
  url: string;
  body(w: Workload): unknown;
  createPath: string;
  statusPath(id: string): string;
  /** Sent on every request to the system (Crane's API key). */
  headers: Record<string, string>;
  /** Where a run's billable operations are read, for systems that count them. */
  usagePath?(id: string): string;
  /** Where the circuit breakers' request counts are read, for systems that have breakers. */
  breakersPath?: string;
}

/** Runs at most a fixed number of calls at once, the rest in arrival order (a client's connection pool). */
export type Gate = <T>(call: () => Promise<T>) => Promise<T>;
const ungated: Gate = (call) => call();

export function gate(inFlight: number): Gate {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async (call) => {
    if (active < inFlight) active++;
    else await new Promise<void>((resolve) => waiting.push(resolve));
    try {
      return await call();
    } finally {
      // Hand the slot straight to the next waiter, or give it back.
      const next = waiting.shift();
      if (next) next();
      else active--;
    }
  };
}

export function crane(name: string, url: string, breakers: boolean): System {
  return {
    name,
    url,
    headers: authHeaders,
    createPath: "/api/v1/runs",
    statusPath: (id) => `/api/v1/runs/${id}`,
    usagePath: (id) => `/api/v1/runs/${id}/usage`,
    ...(breakers ? { breakersPath: "/api/v1/breakers" } : {}),
    body: (w) =>
      w.kind === "calc"
        ? { prompt: "calculate 2 + 3" }
        : w.kind === "plan"
          ? { plan: w.plan }
          : w.kind === "agent"
            ? { agent: { goal: w.goal, tools: ["Http.get"], max_turns: w.maxTurns } }
            : {
                plan: {
                  steps: [
                    ...w.urls.map((u, i) => ({ step_number: i + 1, tool: "Http.get", input: { url: u } })),
                    {
                      step_number: w.urls.length + 1,
                      tool: "Calculator.evaluate",
                      input: { expression: w.urls.map(() => "1").join(" + ") },
                      depends_on: w.urls.map((_, i) => i + 1),
                    },
                  ],
                },
                ...(w.sequential ? { options: { max_parallelism: 1 } } : {}),
              },
  };
}

/** The peers take the same body; neither has a sequential mode (only Crane runs max_parallelism 1) nor runs any plan. */
function peerBody(w: Workload): unknown {
  if (w.kind === "plan") throw new Error("the peers run only the benchmark's own workloads");
  return w.kind === "calc"
    ? { workload: "calc" }
    : w.kind === "agent"
      ? { workload: "agent", goal: w.goal, max_turns: w.maxTurns }
      : { workload: "dag", urls: w.urls };
}

export function workflows(url: string): System {
  return { name: "workflows", url, headers: {}, createPath: "/runs", statusPath: (id) => `/runs/${id}`, body: peerBody };
}

export function floor(url: string, name = "floor"): System {
  return { name, url, headers: {}, createPath: "/runs", statusPath: (id) => `/runs/${id}`, usagePath: (id) => `/runs/${id}/usage`, body: peerBody };
}

/** The agent workload's floor (bench/peers/agent-floor): no durability, so no operations to count. */
export function agentFloor(url: string): System {
  return { name: "floor", url, headers: {}, createPath: "/runs", statusPath: (id) => `/runs/${id}`, body: peerBody };
}

export interface Observed {
  id: string;
  status: string;
  post_ms: number;
  total_ms: number;
}

/** How a client watches a run; the defaults are one client doing one run at a time. */
export interface Watch {
  /** Every request waits for a slot here (a shared connection pool). */
  through?: Gate;
  /** A request unanswered after this long fails (the run with it). */
  requestTimeoutMs?: number;
  /** A run not terminal this long after t0 fails. */
  timeoutMs?: number;
  /** Asked before each poll: true gives the run up, as "abandoned". */
  abandon?: () => boolean;
  /** The pause between polls of one run (default POLL_MS). */
  pollMs?: number;
  /** Told of each poll sent (the fan-out counts them: a system that answers polls faster is polled more often). */
  onPoll?: () => void;
}

/** Submits one run and polls it to the end. */
export async function runOnce(system: System, w: Workload, timeoutMs = 120_000): Promise<Observed> {
  const t0 = performance.now();
  const run_id = await submit(system, w);
  const post_ms = performance.now() - t0;
  return { id: run_id, post_ms, ...(await awaitTerminal(system, run_id, t0, { timeoutMs })) };
}

/** One request, holding its gate slot until the whole answer is read. */
async function request(system: System, path: string, watch: Watch, init: RequestInit = {}): Promise<{ status: number; body: string }> {
  const { through = ungated, requestTimeoutMs } = watch;
  return through(async () => {
    const res = await fetch(system.url + path, {
      ...init,
      headers: { ...system.headers, ...init.headers },
      ...(requestTimeoutMs ? { signal: AbortSignal.timeout(requestTimeoutMs) } : {}),
    });
    return { status: res.status, body: await res.text() };
  });
}

/** POSTs one run; its id once the system answered 201. */
export async function submit(system: System, w: Workload, watch: Watch = {}): Promise<string> {
  const res = await request(system, system.createPath, watch, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(system.body(w)),
  });
  if (res.status !== 201) throw new Error(`${system.name}: POST answered ${res.status}: ${errorText(res.body)}`);
  return (JSON.parse(res.body) as { run_id: string }).run_id;
}

/** Polls a run every POLL_MS until it is terminal (or abandoned). */
export async function awaitTerminal(system: System, id: string, t0: number, watch: Watch = {}): Promise<{ status: string; total_ms: number }> {
  const timeoutMs = watch.timeoutMs ?? 120_000;
  for (;;) {
    if (watch.abandon?.()) return { status: "abandoned", total_ms: performance.now() - t0 };
    watch.onPoll?.();
    const r = await request(system, system.statusPath(id), watch);
    if (r.status !== 200) throw new Error(`${system.name}: GET ${system.statusPath(id)} answered ${r.status}: ${errorText(r.body)}`);
    const { status } = JSON.parse(r.body) as { status: string };
    if (TERMINAL.has(status)) return { status, total_ms: performance.now() - t0 };
    if (performance.now() - t0 > timeoutMs) throw new Error(`${system.name}: run ${id} not finished after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, watch.pollMs ?? POLL_MS));
  }
}

/** wrangler dev answers an uncaught exception with an HTML page; keep only its message. */
function errorText(body: string): string {
  const m = /<h1[^>]*>([\s\S]*?)<\/h1>|"message":"([^"]*)"/.exec(body) ?? /(\w*Error: [^<\n]*)/.exec(body);
  return (m?.[1] ?? m?.[2] ?? body.slice(0, 300)).replace(/<[^>]+>/g, "").trim();
}
