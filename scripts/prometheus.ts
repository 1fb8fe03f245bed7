/**
 * Debian's Prometheus (`apt-get install prometheus`) against a local Crane: a scrape config that
 * sends the metrics token, Crane's alerting rules loaded. Used by `npm run ops` and by the
 * end-to-end test that proves the dashboard and the rules against a real Prometheus.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { tailOutput } from "./child-output.ts";

export const RULES_FILE = resolve("ops/prometheus/crane-rules.yml");

export interface Prometheus {
  url: string;
  child: ChildProcess;
  output: string[];
}

/** The config: one job scraping Crane's /metrics with a bearer token, and the rule files. */
export function prometheusConfig(opts: { target: string; token: string; rules: string[]; intervalS: number }): string {
  return [
    "global:",
    `  scrape_interval: ${opts.intervalS}s`,
    `  evaluation_interval: ${opts.intervalS}s`,
    "rule_files:",
    ...opts.rules.map((r) => `  - ${JSON.stringify(r)}`),
    "scrape_configs:",
    "  - job_name: crane",
    "    metrics_path: /metrics",
    "    authorization:",
    "      type: Bearer",
    `      credentials: ${JSON.stringify(opts.token)}`,
    "    static_configs:",
    `      - targets: [${JSON.stringify(opts.target)}]`,
    "",
  ].join("\n");
}

/** Starts Prometheus with `config` in `dir` (its config file and its TSDB), listening on 127.0.0.1:port. */
export async function startPrometheus(opts: { dir: string; port: number; config: string }): Promise<Prometheus> {
  mkdirSync(opts.dir, { recursive: true });
  const file = join(opts.dir, "prometheus.yml");
  writeFileSync(file, opts.config);
  const child = spawn(
    "prometheus",
    [`--config.file=${file}`, `--storage.tsdb.path=${join(opts.dir, "data")}`, `--web.listen-address=127.0.0.1:${opts.port}`, "--log.level=warn"],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const output = tailOutput(child);
  child.on("error", (err) => output.push(String(err)));
  const url = `http://127.0.0.1:${opts.port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`prometheus exited early:\n${output.join("")}`);
    try {
      if ((await fetch(`${url}/-/ready`)).ok) return { url, child, output };
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`prometheus did not come up:\n${output.join("")}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export async function stopPrometheus(p: Prometheus): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  const exited = new Promise<void>((r) => p.child.once("exit", () => r()));
  p.child.kill("SIGTERM");
  await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
  if (p.child.exitCode === null) p.child.kill("SIGKILL");
}
