import { createRoute, z } from "@hono/zod-openapi";
import { DEV_TENANT } from "../auth/api-keys";
import { ALL_ROWS, contributions, tail, withTail } from "../db/metric-rollup-sql";
import { onEveryShard } from "../db/shards";
import { METRIC_BOUNDS, RATE_LIMIT_REASONS, STEP_OUTCOMES, type HistogramFamily } from "../db/metric-rollups";
import { breakerStatesDb, readBreakerStates } from "../durable/breaker/breaker-record";
import { runCap } from "../durable/run/start-run";
import { TERMINAL_RUN_STATUSES } from "../execution/statuses";
import { planSchema, plannerNameSchema } from "../execution/plan-schema";
import { mcpBreakerName } from "../tools/mcp/mcp-types";
import { guardedTools } from "./breakers";
import { breakerFamilies, breakerSamples } from "./metrics-breakers";
import { Exposition, PROMETHEUS_TEXT, type StoredHistogram } from "./metrics-exposition";
import { operatorToken } from "./middleware/operator-token";
import { ACCESS, createApi } from "./openapi";

/**
 * GET /metrics: Prometheus text exposition. Every number comes from shared state, never from
 * isolate memory, so it does not depend on which isolate answers: the rollups in D1, which a Cron
 * Trigger keeps every minute (src/scheduled/roll-up-metrics.ts), plus the runs rows it has not
 * taken yet, and the breakers' states (breaker_states, which each breaker writes at its
 * transitions: a scrape asks no breaker). The rollup tables' rows grow with tenants, tools and error
 * codes, not with runs; the rows not yet taken are at most a minute of runs plus the runs in
 * flight. So a scrape costs the same on day 1 and day 1,000, is exact at any moment (a row is in
 * the rollup or in the tail, never both: the rollup moves it in one transaction), and deleting old
 * runs changes none of its counters.
 */
export const metricsApi = createApi();

const FALLBACK_REASONS = planSchema.shape.fallback_reason.unwrap().options;
/** The plan sources a run can have: a model, the rule planner (with why), or a plan given by the caller. */
const PLAN_SOURCES = plannerNameSchema.options.flatMap((planner): { planner: string; fallback_reason: string }[] =>
  planner === "rules" ? FALLBACK_REASONS.map((fallback_reason) => ({ planner, fallback_reason })) : [{ planner, fallback_reason: "" }],
);

type Row = Record<string, string | number | null>;
const str = (v: Row[string] | undefined) => String(v ?? "");
const num = (v: Row[string] | undefined) => Number(v ?? 0);

const getMetrics = createRoute({
  method: "get",
  operationId: "getMetrics",
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
  // Every read-model shard, at once. On each, one D1 batch is one transaction: its rollup and its
  // tail are read at the same instant. A tenant's rows live on one shard only, so the answers are
  // concatenated, never summed twice (api_keys, control plane, has rows on shard 0 only).
  const add = contributions(tail(ALL_ROWS));
  const perShard = await onEveryShard(c.env, (db) =>
    db.batch<Row>([
      db.prepare(withTail("metric_runs", add.metric_runs)),
      db.prepare(withTail("metric_steps", add.metric_steps)),
      db.prepare(withTail("metric_step_failures", add.metric_step_failures)),
      db.prepare(withTail("metric_histograms", add.metric_histograms)),
      db.prepare(withTail("metric_llm", add.metric_llm)),
      db.prepare("SELECT * FROM metric_rate_limited"),
      db.prepare("SELECT DISTINCT tenant FROM api_keys WHERE revoked_at IS NULL"),
      // Each registered MCP server has a breaker per tenant (mcp.<server>), whether or not a run that
      // called it has ended yet: a server that went down shows its open breaker at once.
      db.prepare("SELECT tenant, name FROM mcp_servers ORDER BY tenant, name"),
    ]),
  );
  // Each shard's rows come grouped by tenant first; a stable sort by tenant merges them in that order.
  const byTenant = (a: Row, b: Row) => (str(a.tenant) < str(b.tenant) ? -1 : str(a.tenant) > str(b.tenant) ? 1 : 0);
  const [runs, steps, failures, histograms, llm, limited, keyTenants, mcpServers] = perShard[0]!.map((_, i) =>
    perShard.flatMap((results) => results[i]!.results).sort(byTenant),
  );
  const rowsRead = perShard.flat().reduce((n, r) => n + (r.meta.rows_read ?? 0), 0);

  // Tenants with a key, or with runs, have every run series from zero, so rate() sees their first
  // run. Tool series appear per tenant once one of its runs that used the tool has ended.
  const tenants = [
    ...new Set([...(c.env.DEV_API_KEY?.trim() ? [DEV_TENANT] : []), ...keyTenants!.map((r) => str(r.tenant)), ...runs!.map((r) => str(r.tenant))]),
  ].sort();
  const guarded = new Set(guardedTools());
  const breakerSeries = [
    ...steps!.filter((r) => guarded.has(str(r.tool))).map((r) => ({ tenant: str(r.tenant), tool: str(r.tool) })),
    ...mcpServers!.map((r) => ({ tenant: str(r.tenant), tool: mcpBreakerName(str(r.name)) })),
  ];
  const mcpBreakers = new Set(mcpServers!.map((r) => `${str(r.tenant)}\u0000${mcpBreakerName(str(r.name))}`));
  // The breakers' states: one query of their own table, no request to any breaker (breaker_states
  // is not in the tenants' read model: see breaker-record.ts).
  const { rows: breakerRows, rowsRead: breakerRowsRead } = await readBreakerStates(breakerStatesDb(c.env));
  const breakers = breakerSamples(breakerRows, breakerSeries, (tenant, tool) =>
    tool.startsWith("mcp.") ? mcpBreakers.has(`${tenant}\u0000${tool}`) : guarded.has(tool),
  );

  const m = new Exposition();
  const perTenant = (tenant: string, column: string) => runs!.filter((r) => r.tenant === tenant).reduce((n, r) => n + num(r[column]), 0);

  m.family("crane_runs_started_total", "counter", "Runs started (their first projection reached D1), by tenant.");
  for (const tenant of tenants) m.sample("crane_runs_started_total", { tenant }, perTenant(tenant, "started"));
  m.family("crane_runs_ended_total", "counter", "Runs that ended, by tenant and final status (a resumed run that ends again counts again).");
  for (const tenant of tenants) for (const status of TERMINAL_RUN_STATUSES) m.sample("crane_runs_ended_total", { tenant, status }, perTenant(tenant, status));
  m.family("crane_runs_resumed_total", "counter", "Ended runs resumed, by tenant.");
  for (const tenant of tenants) m.sample("crane_runs_resumed_total", { tenant }, perTenant(tenant, "resumed"));
  m.family("crane_runs_in_flight", "gauge", "Runs started or resumed and not yet ended, by tenant, as projected to D1.");
  for (const tenant of tenants) {
    const ended = TERMINAL_RUN_STATUSES.reduce((n, s) => n + perTenant(tenant, s), 0);
    m.sample("crane_runs_in_flight", { tenant }, perTenant(tenant, "started") + perTenant(tenant, "resumed") - ended);
  }
  m.family("crane_runs_in_flight_limit", "gauge", "Each tenant's cap on runs in flight (MAX_RUNS_IN_FLIGHT); POST /runs answers 429 at it.");
  m.sample("crane_runs_in_flight_limit", {}, runCap(c.env));

  m.family("crane_plans_total", "counter", "Runs by the source of their plan: planner, and for the rule planner why (fallback_reason).");
  for (const tenant of tenants)
    for (const { planner, fallback_reason } of PLAN_SOURCES) {
      const row = runs!.find((r) => r.tenant === tenant && r.planner === planner && r.fallback_reason === fallback_reason);
      m.sample("crane_plans_total", { tenant, planner, fallback_reason }, num(row?.started));
    }

  m.family("crane_steps_total", "counter", "Steps of ended runs, by tenant, tool and outcome.");
  for (const r of steps!)
    for (const outcome of STEP_OUTCOMES) m.sample("crane_steps_total", { tenant: str(r.tenant), tool: str(r.tool), outcome }, num(r[outcome]));
  m.family("crane_step_retries_total", "counter", "Attempts beyond the first, of the steps of ended runs, by tenant and tool.");
  for (const r of steps!) m.sample("crane_step_retries_total", { tenant: str(r.tenant), tool: str(r.tool) }, num(r.retries));
  m.family("crane_step_failures_total", "counter", "Failed steps of ended runs, by tenant, tool and error code.");
  for (const r of failures!) m.sample("crane_step_failures_total", { tenant: str(r.tenant), tool: str(r.tool), code: str(r.code) }, num(r.n));

  const stored = storedHistograms(histograms!);
  const histogram = (name: string, family: HistogramFamily, help: string, series: Record<string, string>[]) => {
    m.family(name, "histogram", help);
    for (const labels of series) {
      const key = seriesKey(family, labels.tenant ?? "", labels.tool ?? "");
      m.histogram(name, METRIC_BOUNDS[family], stored.get(key) ?? { labels, counts: new Map(), sum: 0 });
    }
  };
  const tenantSeries = tenants.map((tenant) => ({ tenant }));
  const stepSeries = steps!.map((r) => ({ tenant: str(r.tenant), tool: str(r.tool) }));
  histogram("crane_run_duration_seconds", "run_duration", "From creation to the end, for runs that ended, by tenant.", tenantSeries);
  histogram("crane_step_duration_seconds", "step_duration", "Duration of the steps of ended runs that ran, by tenant and tool.", stepSeries);
  histogram(
    "crane_queue_dispatch_lag_seconds",
    "queue_lag",
    "From a queued step's dispatch to a consumer picking it up, for the steps of ended runs, by tenant and tool.",
    stepSeries.filter((s) => guarded.has(s.tool)),
  );
  histogram("crane_projection_lag_seconds", "projection_lag", "From a run's end to its row in D1, by tenant.", tenantSeries);

  // A (tenant, model) series appears once an ended run of the tenant has an agent step on the model.
  const llmSeries = llm!.map((r) => ({ labels: { tenant: str(r.tenant), model: str(r.model) }, r }));
  m.family("crane_llm_calls_total", "counter", "Model calls made by the agent steps of ended runs (attempts included), by tenant and model.");
  for (const { labels, r } of llmSeries) m.sample("crane_llm_calls_total", labels, num(r.calls));
  m.family("crane_llm_input_tokens_total", "counter", "Input tokens the models reported for the agent steps of ended runs, by tenant and model.");
  for (const { labels, r } of llmSeries) m.sample("crane_llm_input_tokens_total", labels, num(r.input_tokens));
  m.family("crane_llm_output_tokens_total", "counter", "Output tokens the models reported for the agent steps of ended runs, by tenant and model.");
  for (const { labels, r } of llmSeries) m.sample("crane_llm_output_tokens_total", labels, num(r.output_tokens));
  m.family("crane_llm_cost_usd_total", "counter", "USD the agent steps of ended runs cost (LLM_PRICES; 0 without a price), by tenant and model.");
  for (const { labels, r } of llmSeries) m.sample("crane_llm_cost_usd_total", labels, num(r.cost_nano) / 1e9);

  breakerFamilies(m, breakers);

  m.family("crane_rate_limited_requests_total", "counter", "Requests answered 429, by tenant (empty: not known) and reason.");
  const limitedTenants = [...new Set(["", ...tenants, ...limited!.map((r) => str(r.tenant))])].sort();
  for (const tenant of limitedTenants)
    for (const reason of RATE_LIMIT_REASONS) {
      // A failed authentication has no tenant; the other reasons always have one.
      if ((tenant === "") !== (reason === "failed_auth")) continue;
      const row = limited!.find((r) => r.tenant === tenant && r.reason === reason);
      m.sample("crane_rate_limited_requests_total", { tenant, reason }, num(row?.n));
    }

  m.family("crane_metrics_rows_read", "gauge", "D1 rows this scrape read: flat as history grows.");
  m.sample("crane_metrics_rows_read", {}, rowsRead + breakerRowsRead);
  return c.text(m.toString(), 200, { "content-type": `${PROMETHEUS_TEXT}; charset=utf-8` });
});

const seriesKey = (family: string, tenant: string, tool: string) => `${family}\u0000${tenant}\u0000${tool}`;

function storedHistograms(rows: Row[]): Map<string, StoredHistogram> {
  const out = new Map<string, StoredHistogram>();
  for (const r of rows) {
    const key = seriesKey(str(r.family), str(r.tenant), str(r.tool));
    const labels: Record<string, string> = r.tool ? { tenant: str(r.tenant), tool: str(r.tool) } : { tenant: str(r.tenant) };
    const h = out.get(key) ?? { labels, counts: new Map<string, number>(), sum: 0 };
    h.counts.set(str(r.le), (h.counts.get(str(r.le)) ?? 0) + num(r.count));
    h.sum += num(r.sum);
    out.set(key, h);
  }
  return out;
}
