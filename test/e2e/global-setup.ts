import { rmSync } from "node:fs";
import type { TestProject } from "vitest/node";
import { applyMigrations, killRuntime, startRuntime } from "../../scripts/local-runtime.ts";
import { startConformanceProxy } from "./conformance-proxy.ts";
import { e2ePortBase } from "./ports.ts";

/**
 * Starts `wrangler dev` on a fresh local state for the end-to-end tests, behind a proxy that
 * checks every API answer against the OpenAPI document: the clients under test talk to the proxy.
 */
export default async function setup(project: TestProject) {
  const base = e2ePortBase();
  const state = ".wrangler/e2e-state";
  rmSync(state, { recursive: true, force: true });
  applyMigrations(state);
  const rt = await startRuntime({ port: base, persistTo: state, vars: { HTTP_TOOL_ALLOWLIST: "127.0.0.1:*" }, logLevel: "warn" });
  const proxy = await startConformanceProxy(rt.url, base + 1);
  project.provide("craneUrl", proxy.url);
  return async () => {
    await new Promise((resolve) => proxy.server.close(resolve));
    proxy.server.closeAllConnections();
    await killRuntime(rt);
  };
}

declare module "vitest" {
  export interface ProvidedContext {
    craneUrl: string;
  }
}
