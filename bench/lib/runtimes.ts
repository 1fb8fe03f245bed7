/**
 * Starts each system under `wrangler dev` on fresh local state (its D1 migrated first, where it
 * has one), logging at warn: a local runtime's stdout is not free, and Crane logs a JSON line per
 * event where the peers log nothing.
 */
import { rmSync } from "node:fs";
import { createServer } from "node:net";
import { applyMigrations, killRuntime, startRuntime } from "../../scripts/local-runtime.ts";
import { crane, floor, workflows, type System } from "./systems.ts";

export const SYSTEM_NAMES = ["floor", "crane", "crane-no-breakers", "workflows"] as const;
export type SystemName = (typeof SYSTEM_NAMES)[number];

export interface Started {
  system: System;
  stop(): Promise<void>;
  /** The runtime's last output, for when a workload fails. */
  output: string[];
}

const FLOOR_CONFIG = "bench/peers/floor/wrangler.toml";
const WORKFLOWS_CONFIG = "bench/peers/workflows/wrangler.toml";

function freshState(name: SystemName): string {
  const state = `.wrangler/bench-${name}`;
  rmSync(state, { recursive: true, force: true });
  return state;
}

export async function start(name: SystemName, port: number): Promise<Started> {
  const persistTo = freshState(name);
  if (name === "floor") {
    applyMigrations(persistTo, { database: "crane-bench-floor", config: FLOOR_CONFIG });
    const rt = await startRuntime({ port, persistTo, config: FLOOR_CONFIG, healthPath: "/health", logLevel: "warn" });
    return { system: floor(rt.url), stop: () => killRuntime(rt), output: rt.output };
  }
  if (name === "workflows") {
    const rt = await startRuntime({ port, persistTo, config: WORKFLOWS_CONFIG, healthPath: "/health", logLevel: "warn" });
    return { system: workflows(rt.url), stop: () => killRuntime(rt), output: rt.output };
  }
  const breakers = name === "crane";
  applyMigrations(persistTo);
  // Unlimited: the benchmark measures the runtime, not one client's rate limit or run cap.
  const rt = await startRuntime({
    port,
    persistTo,
    unlimited: true,
    vars: { HTTP_TOOL_ALLOWLIST: "127.0.0.1:*", BREAKER_ENABLED: String(breakers), LOG_LEVEL: "warn" },
    logLevel: "warn",
  });
  return { system: crane(name, rt.url, breakers), stop: () => killRuntime(rt), output: rt.output };
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
