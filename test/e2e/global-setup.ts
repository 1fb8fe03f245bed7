import { rmSync } from "node:fs";
import type { TestProject } from "vitest/node";
import { applyMigrations, killRuntime, startRuntime } from "../../scripts/local-runtime.ts";

/** Starts `wrangler dev` on a fresh local state for the end-to-end tests. */
export default async function setup(project: TestProject) {
  const state = ".wrangler/e2e-state";
  rmSync(state, { recursive: true, force: true });
  applyMigrations(state);
  const rt = await startRuntime({ port: 8795, persistTo: state, vars: { HTTP_TOOL_ALLOWLIST: "127.0.0.1:*" }, logLevel: "warn" });
  project.provide("craneUrl", rt.url);
  return () => killRuntime(rt);
}

declare module "vitest" {
  export interface ProvidedContext {
    craneUrl: string;
  }
}
