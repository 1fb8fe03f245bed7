/**
 * Starts and stops `wrangler dev` on a given local state directory, for the soak and benchmark
 * scripts. Each runtime runs in its own process group so SIGKILL takes workerd down with it.
 */
import { spawn, execFileSync, type ChildProcess } from "node:child_process";

export interface Runtime {
  url: string;
  child: ChildProcess;
  output: string[];
}

export function applyMigrations(persistTo: string): void {
  execFileSync("wrangler", ["d1", "migrations", "apply", "crane", "--local", "--persist-to", persistTo], { stdio: "ignore", env: { ...process.env, CI: "true" } });
}

export async function startRuntime(opts: { port: number; persistTo: string; vars?: Record<string, string>; config?: string; healthPath?: string; logLevel?: "warn" | "info" }): Promise<Runtime> {
  const args = ["dev", "--port", String(opts.port), "--persist-to", opts.persistTo, "--ip", "127.0.0.1", "--show-interactive-dev-session=false"];
  if (opts.logLevel) args.push("--log-level", opts.logLevel);
  if (opts.config) args.push("--config", opts.config);
  for (const [k, v] of Object.entries(opts.vars ?? {})) args.push("--var", `${k}:${v}`);
  const child = spawn("wrangler", args, { detached: true, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, CI: "true", WRANGLER_SEND_METRICS: "false" } });
  const output: string[] = [];
  const keep = (b: Buffer) => {
    output.push(b.toString());
    if (output.length > 200) output.shift();
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const url = `http://127.0.0.1:${opts.port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited early:\n${output.join("")}`);
    try {
      const res = await fetch(`${url}${opts.healthPath ?? "/api/v1/health"}`);
      if (res.ok) return { url, child, output };
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`wrangler dev did not come up:\n${output.join("")}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Stops the runtime's whole process group (wrangler and its workerd); SIGKILL if it lingers. */
export async function killRuntime(rt: Runtime, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  const group = -rt.child.pid!;
  const exited = new Promise<void>((resolve) => {
    if (rt.child.exitCode !== null || rt.child.signalCode !== null) resolve();
    else rt.child.once("exit", () => resolve());
  });
  const kill = (sig: NodeJS.Signals) => {
    try {
      process.kill(group, sig);
    } catch {
      // already gone
    }
  };
  kill(signal);
  await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
  kill("SIGKILL"); // workerd may outlive wrangler: make sure the port is free for the next runtime
  await new Promise((r) => setTimeout(r, 200));
}
