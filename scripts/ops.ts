/**
 * `npm run ops`: Crane with its monitoring, locally. Starts `wrangler dev` (or uses the one already
 * answering on CRANE_PORT, default 8787) and Debian's Prometheus on PROMETHEUS_PORT (default 9090),
 * scraping /metrics with the metrics token and evaluating ops/prometheus/crane-rules.yml.
 * Point Grafana at the Prometheus and import ops/grafana/crane.json (see README, "Operating Crane").
 * Ctrl-C stops what it started.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { killRuntime, startRuntime, type Runtime } from "./local-runtime.ts";
import { prometheusConfig, RULES_FILE, startPrometheus, stopPrometheus } from "./prometheus.ts";

const cranePort = Number(process.env.CRANE_PORT ?? 8787);
const promPort = Number(process.env.PROMETHEUS_PORT ?? 9090);

/** The token Prometheus sends: METRICS_TOKEN from the environment, else from .dev.vars, else the local default. */
function metricsToken(): string {
  if (process.env.METRICS_TOKEN) return process.env.METRICS_TOKEN;
  const vars = existsSync(".dev.vars") ? readFileSync(".dev.vars", "utf8") : "";
  const m = /^METRICS_TOKEN="?([^"\n]*)"?$/m.exec(vars);
  return m?.[1] || "crane_local_metrics_token";
}

try {
  execFileSync("prometheus", ["--version"], { stdio: "ignore" });
} catch {
  console.error("Prometheus is not installed: apt-get install -y prometheus");
  process.exit(1);
}

const token = metricsToken();
let runtime: Runtime | undefined;
const crane = `http://127.0.0.1:${cranePort}`;
const up = await fetch(`${crane}/api/v1/health`).then(
  (r) => r.ok,
  () => false,
);
if (up) {
  console.log(`using the Crane already answering on ${crane} (its METRICS_TOKEN or ADMIN_TOKEN must be "${token}")`);
} else {
  // Migrations and .dev.vars, as `npm run dev` does.
  execFileSync("node", ["scripts/prepare-local.mjs"], { stdio: "inherit" });
  runtime = await startRuntime({ port: cranePort, persistTo: ".wrangler/state", vars: { METRICS_TOKEN: token }, logLevel: "warn" });
  console.log(`wrangler dev on ${crane}`);
}
const prometheus = await startPrometheus({
  dir: ".wrangler/ops/prometheus",
  port: promPort,
  config: prometheusConfig({ target: `127.0.0.1:${cranePort}`, token, rules: [RULES_FILE], intervalS: 15 }),
});
console.log(`Prometheus on ${prometheus.url} (targets: ${prometheus.url}/targets, alerts: ${prometheus.url}/alerts)`);
console.log(`Grafana: add a Prometheus data source at ${prometheus.url}, then import ops/grafana/crane.json`);

const stop = async () => {
  await stopPrometheus(prometheus);
  if (runtime) await killRuntime(runtime);
  process.exit(0);
};
process.on("SIGINT", () => void stop());
process.on("SIGTERM", () => void stop());
