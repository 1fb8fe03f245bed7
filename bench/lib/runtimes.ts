/**
 * Starts each system under `wrangler dev` on fresh local state (its D1 migrated first, where it
 * has one), in its shipped configuration: no log level or other setting a default deployment does
 * not have. The one exception, reported with the results: Crane's per-key rate limit and run cap
 * are raised (scripts/local-runtime.ts `unlimited`), since the benchmark's one client would hit
 * them; the checks themselves still run on every request.
 */
import { rmSync } from "node:fs";
import { createServer } from "node:net";
import { applyMigrations, killRuntime, startRuntime, type Runtime } from "../../scripts/local-runtime.ts";
import { agentFloor, crane, floor, workflows, type System } from "./systems.ts";

export const SYSTEM_NAMES = ["floor", "queue-floor", "crane", "crane-no-breakers", "workflows"] as const;
export type SystemName = (typeof SYSTEM_NAMES)[number];

export interface Started {
  system: System;
  stop(): Promise<void>;
  /** The runtime's last output, for when a workload fails. */
  output: string[];
  /** The process group of wrangler dev and its workerd (for CPU time, from /proc). */
  pgid: number;
  /** JSON log lines the Worker has written so far (Crane's logger writes one JSON object a line). */
  logLines(): number;
  /** The same, by level and message, since the runtime started. */
  logLinesByMessage(): Record<string, number>;
}

/** Counts the JSON log lines a runtime writes to stdout and stderr. */
/** The JSON log lines the Worker writes, counted in all and by level and message ("warn step.lease_too_short", "warn step.report_ignored (not_running)"). */
function countLogLines(rt: Runtime): { total: () => number; byMessage: () => Record<string, number> } {
  let lines = 0;
  const tally: Record<string, number> = {};
  const counter = () => {
    let partial = "";
    return (chunk: Buffer | string) => {
      const parts = (partial + String(chunk)).split("\n");
      partial = parts.pop()!;
      for (const line of parts) {
        if (!line.includes('{"level":')) continue;
        lines++;
        const m = /\{"level":"(\w+)","msg":"([^"]*)"/.exec(line);
        const reason = /"reason":"([^"]*)"/.exec(line)?.[1];
        const key = m ? `${m[1]} ${m[2]}${reason ? ` (${reason})` : ""}` : "other";
        tally[key] = (tally[key] ?? 0) + 1;
      }
    };
  };
  rt.child.stdout?.on("data", counter());
  rt.child.stderr?.on("data", counter());
  return { total: () => lines, byMessage: () => ({ ...tally }) };
}

function started(system: System, rt: Runtime): Started {
  const logs = countLogLines(rt);
  return { system, stop: () => killRuntime(rt), output: rt.output, pgid: rt.child.pid!, logLines: logs.total, logLinesByMessage: logs.byMessage };
}

const FLOOR_CONFIG = "bench/peers/floor/wrangler.toml";
const QUEUE_FLOOR_CONFIG = "bench/peers/queue-floor/wrangler.toml";
const WORKFLOWS_CONFIG = "bench/peers/workflows/wrangler.toml";
const AGENT_FLOOR_CONFIG = "bench/peers/agent-floor/wrangler.toml";

function freshState(name: string): string {
  const state = `.wrangler/bench-${name}`;
  rmSync(state, { recursive: true, force: true });
  return state;
}

/** The systems that run the agent workload: the floor is the agent floor there, and the queue floor has no agent. */
export const AGENT_SYSTEMS: readonly SystemName[] = ["floor", "crane", "crane-no-breakers", "workflows"];

/**
 * Starts a system for the agent workload, on fresh state, with its model at `llm` (an
 * OpenAI-compatible base URL ending in /v1, and a model name). Crane gets its own runtime for it:
 * with a model configured, its planner would plan the other workloads' prompts with that model.
 */
export async function startForAgent(name: SystemName, port: number, llm: { baseUrl: string; model: string }): Promise<Started> {
  const vars = { LLM_BASE_URL: llm.baseUrl, LLM_MODEL: llm.model };
  const persistTo = freshState(`${name}-agent`);
  if (name === "floor") {
    const rt = await startRuntime({ port, persistTo, config: AGENT_FLOOR_CONFIG, healthPath: "/health", vars });
    return started(agentFloor(rt.url), rt);
  }
  if (name === "workflows") {
    const rt = await startRuntime({ port, persistTo, config: WORKFLOWS_CONFIG, healthPath: "/health", vars });
    return started(workflows(rt.url), rt);
  }
  if (name === "queue-floor") throw new Error("the queue floor has no agent loop");
  const breakers = name === "crane";
  applyMigrations(persistTo);
  const rt = await startRuntime({
    port,
    persistTo,
    unlimited: true,
    vars: { HTTP_TOOL_ALLOWLIST: "127.0.0.1:*", BREAKER_ENABLED: String(breakers), ...vars },
  });
  return started(crane(name, rt.url, breakers), rt);
}

export async function start(name: SystemName, port: number): Promise<Started> {
  const persistTo = freshState(name);
  if (name === "floor") {
    applyMigrations(persistTo, { database: "crane-bench-floor", config: FLOOR_CONFIG });
    const rt = await startRuntime({ port, persistTo, config: FLOOR_CONFIG, healthPath: "/health" });
    return started(floor(rt.url), rt);
  }
  if (name === "queue-floor") {
    applyMigrations(persistTo, { database: "crane-bench-queue-floor", config: QUEUE_FLOOR_CONFIG });
    const rt = await startRuntime({ port, persistTo, config: QUEUE_FLOOR_CONFIG, healthPath: "/health" });
    return started(floor(rt.url, "queue-floor"), rt);
  }
  if (name === "workflows") {
    const rt = await startRuntime({ port, persistTo, config: WORKFLOWS_CONFIG, healthPath: "/health" });
    return started(workflows(rt.url), rt);
  }
  const breakers = name === "crane";
  applyMigrations(persistTo);
  // Unlimited: the benchmark measures the runtime, not one client's rate limit or run cap.
  const rt = await startRuntime({
    port,
    persistTo,
    unlimited: true,
    // The allowlist lets Http.get reach the local upstream (deployed, it is closed until configured).
    vars: { HTTP_TOOL_ALLOWLIST: "127.0.0.1:*", BREAKER_ENABLED: String(breakers) },
  });
  return started(crane(name, rt.url, breakers), rt);
}

/**
 * The first port from `from` that nothing listens on. A taken port is not just an error to avoid:
 * startRuntime would find whatever answers there healthy and measure it instead.
 */
export async function freePort(from: number): Promise<number> {
  for (let port = from; ; port++) {
    const free = await new Promise<boolean>((resolve) => {
      const probe = createServer();
      probe.once("error", () => resolve(false));
      probe.listen(port, "127.0.0.1", () => probe.close(() => resolve(true)));
    });
    if (free) return port;
    console.warn(`port ${port} is taken (another runtime on this machine? its load skews these numbers); trying ${port + 1}`);
  }
}
