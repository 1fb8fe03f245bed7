import { spawnSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyMigrations, authHeaders, killRuntime, LOCAL_ADMIN_TOKEN, startRuntime, type Runtime } from "../../scripts/local-runtime.ts";
import { prometheusConfig, RULES_FILE, startPrometheus, stopPrometheus, type Prometheus } from "../../scripts/prometheus.ts";
import { e2ePortBase } from "./ports.ts";

// The operator's kit, proven with the real tools: Debian's Prometheus scrapes this file's own
// `wrangler dev` every second with the metrics token and evaluates the committed rules
// (ops/prometheus/crane-rules.yml) while runs complete, fail, trip a breaker and fill a tenant's
// cap. Then every PromQL expression of the dashboard (ops/grafana/crane.json) and of the rules
// must return data through Prometheus' HTTP API, the breaker alert must be pending, and
// `promtool check metrics` must find nothing to say about GET /metrics.
const CRANE_PORT = e2ePortBase() + 3;
const UPSTREAM_PORT = e2ePortBase() + 4;
const PROMETHEUS_PORT = e2ePortBase() + 9;
const STATE = ".wrangler/e2e-prometheus-state";
const PROM_DIR = ".wrangler/e2e-prometheus";
const METRICS_TOKEN = "e2e_metrics_token";

let rt: Runtime;
let prom: Prometheus;
let upstream: Server;
const upstreamUrl = `http://127.0.0.1:${UPSTREAM_PORT}`;

interface PromResult {
  status: string;
  error?: string;
  data: { resultType: string; result: unknown[] };
}

async function promQuery(expr: string): Promise<PromResult> {
  const res = await fetch(`${prom.url}/api/v1/query?query=${encodeURIComponent(expr)}`);
  return (await res.json()) as PromResult;
}

/** Polls a query until it returns data (scrapes and rule evaluations come every second). */
async function returnsData(expr: string, timeoutMs = 30_000): Promise<PromResult> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await promQuery(expr);
    if (r.status !== "success") throw new Error(`${expr}: ${r.error}`);
    if (r.data.result.length > 0 || Date.now() > deadline) return r;
    await new Promise((res) => setTimeout(res, 500));
  }
}

async function crane(path: string, init: RequestInit & { key?: string } = {}): Promise<Response> {
  const { key, ...rest } = init;
  const auth = key ? { authorization: `Bearer ${key}` } : authHeaders;
  return fetch(`${rt.url}/api/v1${path}`, { ...rest, headers: { ...auth, "content-type": "application/json", ...rest.headers } });
}

async function run(body: unknown, key?: string): Promise<{ run_id: string; status: string }> {
  const res = await crane("/runs?wait=20", { method: "POST", body: JSON.stringify(body), ...(key ? { key } : {}) });
  expect(res.status, await res.clone().text()).toBeLessThan(300);
  return (await res.json()) as { run_id: string; status: string };
}

beforeAll(async () => {
  // The tenant's dependency: /ok answers, /fail is down, /flaky/KEY?fail=N fails N times first.
  const hits = new Map<string, number>();
  upstream = createServer((req, res) => {
    const url = new URL(req.url ?? "/", upstreamUrl);
    const n = (hits.get(url.pathname) ?? 0) + 1;
    hits.set(url.pathname, n);
    const failing = url.pathname === "/fail" || (url.pathname.startsWith("/flaky/") && n <= Number(url.searchParams.get("fail") ?? 0));
    res.writeHead(failing ? 503 : 200, { "content-type": "application/json" }).end(JSON.stringify({ ok: !failing }));
  });
  await new Promise<void>((r) => upstream.listen(UPSTREAM_PORT, "127.0.0.1", r));

  rmSync(STATE, { recursive: true, force: true });
  rmSync(PROM_DIR, { recursive: true, force: true });
  applyMigrations(STATE);
  rt = await startRuntime({
    port: CRANE_PORT,
    persistTo: STATE,
    logLevel: "warn",
    vars: {
      HTTP_TOOL_ALLOWLIST: "127.0.0.1:*",
      METRICS_TOKEN,
      MAX_RUNS_IN_FLIGHT: "3",
      // Http.get's breaker opens after three failures and stays open past this test.
      BREAKER_CONFIG: JSON.stringify({ "Http.get": { failure_threshold: 3, window_min_calls: 3, cooldown_ms: 3_600_000, max_cooldown_ms: 3_600_000 } }),
    },
  });
  prom = await startPrometheus({
    dir: PROM_DIR,
    port: PROMETHEUS_PORT,
    config: prometheusConfig({ target: `127.0.0.1:${CRANE_PORT}`, token: METRICS_TOKEN, rules: [RULES_FILE], intervalS: 1 }),
  });
}, 120_000);

afterAll(async () => {
  if (prom) await stopPrometheus(prom);
  if (rt) await killRuntime(rt);
  await new Promise((r) => upstream?.close(r));
});

describe("Prometheus and Grafana against a running Crane", () => {
  it("scrapes Crane; every dashboard and rule expression returns data; the breaker alert goes pending", async () => {
    // Prometheus scrapes before anything happens, so every counter is seen rising from zero.
    expect((await returnsData('up{job="crane"} == 1')).data.result).toHaveLength(1);

    for (const prompt of ["calculate 1 + 1", "calculate 2 * 3", "calculate 7 - 4"]) expect((await run({ prompt })).status).toBe("completed");
    expect((await run({ prompt: "calculate 5 / 0" })).status).toBe("failed");
    const retried = await run({
      plan: { steps: [{ step_number: 1, tool: "Http.get", input: { url: `${upstreamUrl}/flaky/once?fail=1` } }] },
      options: { retry: { max_attempts: 3, initial_delay_ms: 10, max_delay_ms: 20 } },
    });
    expect(retried.status).toBe("completed");
    // Failing calls open the tenant's Http.get breaker (its window counts the flaky one too).
    const breakerState = async () =>
      ((await (await crane("/breakers")).json()) as { breakers: { tool: string; state: string }[] }).breakers.find((b) => b.tool === "Http.get")?.state;
    for (let i = 0; i < 3 && (await breakerState()) !== "open"; i++) {
      const failed = await run({
        plan: { steps: [{ step_number: 1, tool: "Http.get", input: { url: `${upstreamUrl}/fail` } }] },
        options: { retry: { max_attempts: 1 } },
      });
      expect(failed.status).toBe("failed");
    }
    expect(await breakerState()).toBe("open");

    // Another tenant fills its cap of 3 with approvals nobody decides; its 4th run is refused.
    const keyRes = await crane("/admin/keys", { method: "POST", key: LOCAL_ADMIN_TOKEN, body: JSON.stringify({ name: "e2e", tenant: "capped" }) });
    expect(keyRes.status).toBe(201);
    const { secret } = (await keyRes.json()) as { secret: string };
    const approval = { plan: { steps: [{ step_number: 1, tool: "Human.approve", input: { message: "ship it?" } }] } };
    for (let i = 0; i < 3; i++) expect((await run(approval, secret)).status).toBe("waiting");
    const refused = await crane("/runs", { method: "POST", key: secret, body: JSON.stringify(approval) });
    expect(refused.status).toBe(429);

    // GET /metrics passes promtool's own linter.
    const metrics = await fetch(`${rt.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(metrics.status).toBe(200);
    const text = await metrics.text();
    const lint = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
    expect(`${lint.stdout}${lint.stderr}`).toBe("");
    expect(lint.status).toBe(0);

    // The committed breaker alert goes pending (its `for` is 5 minutes: it stays pending here).
    const deadline = Date.now() + 60_000;
    for (;;) {
      const alerts = (await (await fetch(`${prom.url}/api/v1/alerts`)).json()) as { data: { alerts: { labels: Record<string, string>; state: string }[] } };
      const open = alerts.data.alerts.find((a) => a.labels.alertname === "CraneBreakerOpen");
      if (open) {
        expect(open.state).toBe("pending");
        expect(open.labels).toMatchObject({ tenant: "dev", tool: "Http.get" });
        break;
      }
      if (Date.now() > deadline) throw new Error(`CraneBreakerOpen never went pending: ${JSON.stringify(alerts.data.alerts)}`);
      await new Promise((r) => setTimeout(r, 500));
    }

    // Every dashboard expression, with Grafana's variables as an operator's first look sets them.
    const dashboard = JSON.parse(readFileSync("ops/grafana/crane.json", "utf8")) as { panels: { title: string; targets: { expr: string }[] }[] };
    const dashboardExprs = dashboard.panels.flatMap((p) => p.targets.map((t) => ({ where: p.title, expr: t.expr })));
    expect(dashboardExprs.length).toBeGreaterThanOrEqual(15);
    const empty: string[] = [];
    for (const { where, expr } of dashboardExprs) {
      const q = expr.replaceAll("$__rate_interval", "2m").replaceAll("$tenant", ".*");
      if ((await returnsData(q)).data.result.length === 0) empty.push(`${where}: ${q}`);
    }

    // Every rule, as Prometheus loaded it from the committed file. An alert whose condition ends
    // in a threshold is asked for the quantity it compares (that is what returns data while all
    // is well); the others must hold now (the tenant at its cap, the breaker open).
    const rules = (await (await fetch(`${prom.url}/api/v1/rules`)).json()) as {
      data: { groups: { file: string; rules: { name: string; query: string; health: string; lastError?: string }[] }[] };
    };
    const loaded = rules.data.groups.flatMap((g) => g.rules);
    expect(loaded.map((r) => r.name).sort()).toEqual(
      ["CraneBreakerOpen", "CraneProjectionLagging", "CraneRunsFailing", "CraneRunsStalled", "CraneStepLatencyHigh", "CraneTenantAtRunCap"].sort(),
    );
    for (const rule of loaded) {
      expect(rule.health, `${rule.name}: ${rule.lastError}`).toBe("ok");
      const threshold = /^([\s\S]*\S)\s*(?:==|!=|>=|<=|>|<)\s*-?[0-9.]+$/.exec(rule.query.trim());
      const q = threshold ? threshold[1]! : rule.query;
      if ((await returnsData(q)).data.result.length === 0) empty.push(`${rule.name}: ${q}`);
    }
    expect(empty).toEqual([]);
  });
});
