import { runEnded } from "../execution/statuses";
import { createRoute, z } from "@hono/zod-openapi";
import { DEV_TENANT } from "../auth/api-keys";
import { breakerName, type BreakerStatus } from "../durable/breaker/tool-breaker";
import { guardedTools } from "./breakers";
import { operatorToken } from "./middleware/operator-token";
import { ACCESS, createApi } from "./openapi";

/**
 * GET /metrics: Prometheus text exposition. Every number comes from shared state (the D1 read
 * model and the breaker objects), never from isolate memory, so it does not depend on which
 * isolate answers. Runs and steps are counted once they are projected: at creation and at the end.
 */
export const metricsApi = createApi();

const RUN_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
const STEP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const BREAKER_STATE = { closed: 0, half_open: 1, open: 2 } as const;

const esc = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
const labels = (l: Record<string, string>) => {
  const parts = Object.entries(l).map(([k, v]) => `${k}="${esc(v)}"`);
  return parts.length ? `{${parts.join(",")}}` : "";
};

class Exposition {
  private lines: string[] = [];
  family(name: string, type: "counter" | "gauge" | "histogram", help: string): void {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  }
  sample(name: string, l: Record<string, string>, value: number): void {
    this.lines.push(`${name}${labels(l)} ${value}`);
  }
  /** Cumulative buckets from per-row values (seconds). */
  histogram(name: string, l: Record<string, string>, buckets: number[], values: number[]): void {
    for (const b of buckets) this.sample(`${name}_bucket`, { ...l, le: String(b) }, values.filter((v) => v <= b).length);
    this.sample(`${name}_bucket`, { ...l, le: "+Inf" }, values.length);
    this.sample(`${name}_sum`, l, Number(values.reduce((a, b) => a + b, 0).toFixed(6)));
    this.sample(`${name}_count`, l, values.length);
  }
  toString(): string {
    return `${this.lines.join("\n")}\n`;
  }
}

/**
 * Every ended run's steps: the JSON in `runs.steps`, and the `steps` table where runs projected
 * before that column existed keep theirs.
 */
const ALL_STEPS = `(
  SELECT tool, status, attempts, duration_ms FROM steps
  UNION ALL
  SELECT json_extract(j.value, '$.tool') AS tool, json_extract(j.value, '$.status') AS status,
         json_extract(j.value, '$.attempts') AS attempts, json_extract(j.value, '$.duration_ms') AS duration_ms
  FROM runs, json_each(runs.steps) AS j WHERE runs.steps IS NOT NULL
)`;

const PROMETHEUS_TEXT = "text/plain; version=0.0.4";

const getMetrics = createRoute({
  method: "get",
  path: "/metrics",
  tags: ["Metrics"],
  summary: "Prometheus metrics, across all tenants",
  // Metrics span every tenant, so they are for operators: METRICS_TOKEN, or else ADMIN_TOKEN.
  // With neither set they stay closed.
  middleware: operatorToken({
    tokens: (env) => [env.METRICS_TOKEN, env.ADMIN_TOKEN],
    realm: "crane-metrics",
    code: "unauthorized",
    message: "GET /metrics needs Authorization: Bearer <METRICS_TOKEN> (or <ADMIN_TOKEN>).",
  }),
  security: ACCESS.metrics.security,
  responses: { 200: { description: "Prometheus text exposition", content: { [PROMETHEUS_TEXT]: { schema: z.string() } } }, ...ACCESS.metrics.responses },
});

metricsApi.openapi(getMetrics, async (c) => {
  const db = c.env.DB;
  const [runStatus, runDurations, planners, stepCounts, stepDurations, retries] = await db.batch<Record<string, string | number | null>>([
    db.prepare("SELECT status, count(*) AS n FROM runs GROUP BY status"),
    db.prepare(
      "SELECT (julianday(completed_at) - julianday(created_at)) * 86400.0 AS s FROM runs WHERE completed_at IS NOT NULL AND status IN ('completed','failed','cancelled')",
    ),
    db.prepare("SELECT planner, coalesce(fallback_reason, '') AS fallback_reason, count(*) AS n FROM runs GROUP BY planner, fallback_reason"),
    db.prepare(`SELECT tool, status, count(*) AS n FROM ${ALL_STEPS} GROUP BY tool, status`),
    db.prepare(`SELECT tool, duration_ms FROM ${ALL_STEPS} WHERE duration_ms IS NOT NULL`),
    db.prepare(`SELECT tool, sum(attempts - 1) AS n FROM ${ALL_STEPS} WHERE attempts > 1 GROUP BY tool`),
  ]);
  // Breakers are per tenant and tool: one gauge per pair, for the tenants that have keys.
  const { results: tenantRows } = await db.prepare("SELECT DISTINCT tenant FROM api_keys WHERE revoked_at IS NULL").all<{ tenant: string }>();
  const tenants = [...new Set([...(c.env.DEV_API_KEY?.trim() ? [DEV_TENANT] : []), ...tenantRows.map((r) => r.tenant)])];
  const breakers = await Promise.all(
    tenants.flatMap((tenant) =>
      guardedTools().map(async (tool) => ({ tenant, ...((await c.env.BREAKERS.getByName(breakerName(tenant, tool)).status(tool)) as BreakerStatus) })),
    ),
  );

  const m = new Exposition();
  m.family("crane_runs_total", "counter", "Runs that ended, by final status.");
  for (const r of runStatus!.results)
    if (["completed", "failed", "cancelled"].includes(String(r.status))) m.sample("crane_runs_total", { status: String(r.status) }, Number(r.n));
  m.family("crane_runs_in_flight", "gauge", "Runs accepted and not yet ended.");
  m.sample(
    "crane_runs_in_flight",
    {},
    runStatus!.results.filter((r) => !runEnded(String(r.status))).reduce((n, r) => n + Number(r.n), 0),
  );
  m.family("crane_run_duration_seconds", "histogram", "From creation to the end, for runs that ended.");
  m.histogram(
    "crane_run_duration_seconds",
    {},
    RUN_BUCKETS,
    runDurations!.results.map((r) => Number(r.s)),
  );
  m.family("crane_planner_total", "counter", "Plans made for runs, by planner and fallback reason (empty: none).");
  for (const r of planners!.results) m.sample("crane_planner_total", { planner: String(r.planner), fallback_reason: String(r.fallback_reason) }, Number(r.n));
  m.family("crane_steps_total", "counter", "Steps of ended runs, by tool and outcome.");
  for (const r of stepCounts!.results) m.sample("crane_steps_total", { tool: String(r.tool), outcome: String(r.status) }, Number(r.n));
  m.family("crane_step_duration_seconds", "histogram", "Duration of steps that ran, by tool.");
  const byTool = new Map<string, number[]>();
  for (const r of stepDurations!.results) byTool.set(String(r.tool), [...(byTool.get(String(r.tool)) ?? []), Number(r.duration_ms) / 1000]);
  for (const [tool, values] of byTool) m.histogram("crane_step_duration_seconds", { tool }, STEP_BUCKETS, values);
  m.family("crane_step_retries_total", "counter", "Attempts beyond the first, by tool.");
  for (const r of retries!.results) m.sample("crane_step_retries_total", { tool: String(r.tool) }, Number(r.n));
  m.family("crane_breaker_state", "gauge", "Circuit breaker state by tenant and tool: 0 closed, 1 half-open, 2 open.");
  for (const b of breakers) m.sample("crane_breaker_state", { tenant: b.tenant, tool: b.tool }, BREAKER_STATE[b.state]);
  return c.text(m.toString(), 200, { "content-type": `${PROMETHEUS_TEXT}; charset=utf-8` });
});
