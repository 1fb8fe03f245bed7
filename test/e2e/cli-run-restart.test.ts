import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyMigrations, authHeaders, killRuntime, startRuntime, type Runtime } from "../../scripts/local-runtime.ts";
import { e2ePortBase } from "./ports.ts";

// `crane run` on its default path (the server holds the POST with ?wait=, no --wait 0) while the
// runtime is killed and started again: the CLI must repeat its POST under the same
// Idempotency-Key, find the run it made, and follow it to its end. Its own runtime and state, so
// killing it leaves the shared one alone.
const PORT = e2ePortBase() + 3;
const STATE = ".wrangler/e2e-cli-run-restart-state";
let rt: Runtime;

beforeAll(async () => {
  rmSync(STATE, { recursive: true, force: true });
  applyMigrations(STATE);
  rt = await startRuntime({ port: PORT, persistTo: STATE, logLevel: "warn" });
});

afterAll(async () => {
  if (rt) await killRuntime(rt);
});

const runIds = async (): Promise<string[]> => {
  const res = await fetch(`${rt.url}/api/v1/runs`, { headers: authHeaders }).catch(() => undefined);
  if (!res?.ok) return [];
  return ((await res.json()) as { runs: { run_id: string }[] }).runs.map((r) => r.run_id);
};

describe("crane run across a server restart", () => {
  it("repeats its ?wait= POST after the runtime comes back and follows the one run it made to its end", async () => {
    let out = "";
    const cli = spawn(process.execPath, ["bin/crane.js", "--url", rt.url, "run", "wait 6 seconds then calculate 20 + 22", "--follow"], {
      env: { ...process.env, CRANE_API_KEY: "crane_dev_key", NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    cli.stdout.on("data", (d: Buffer) => (out += d.toString()));
    cli.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => cli.on("exit", (code) => resolve(code)));

    // The run exists (the POST is being held by ?wait=): now the runtime dies under it.
    await expect.poll(runIds, { timeout: 30_000 }).toHaveLength(1);
    const [runId] = await runIds();
    await killRuntime(rt, "SIGKILL");
    rt = await startRuntime({ port: PORT, persistTo: STATE, logLevel: "warn" });

    expect(await exited, out).toBe(0);
    expect(out).not.toMatch(/Cannot reach Crane/);
    expect(out).toContain(runId!);
    expect(out).toMatch(/run completed: 42/);
    // One run: the repeated POST found it by its key rather than making another.
    expect(await runIds()).toEqual([runId]);
  });
});
