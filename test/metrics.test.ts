import { env } from "cloudflare:workers";
import parsePrometheusTextFormat, { type Family } from "parse-prometheus-text-format";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { app } from "../src/app";
import { ADMIN_TOKEN, createRun, DEV_KEY, waitForRun } from "./helpers";

// This file has its own D1, so every number below comes from the runs it makes.
const upstream = inject("upstreamUrl");
let families: Family[];
let exposition: string;

/**
 * parse-prometheus-text-format folds a histogram's series into one, dropping their labels, so a
 * labelled histogram is parsed one label set at a time: its HELP and TYPE lines plus that set's samples.
 */
function histogramFor(name: string, label: string, value: string): Family["metrics"][number] {
  const lines = exposition
    .split("\n")
    .filter((l) => l.startsWith(`# HELP ${name} `) || l.startsWith(`# TYPE ${name} `) || (l.startsWith(`${name}_`) && l.includes(`${label}="${value}"`)));
  const [f] = parsePrometheusTextFormat(lines.map((l) => l.replace(`${label}="${value}",`, "").replace(`{${label}="${value}"}`, "")).join("\n") + "\n");
  return f!.metrics[0]!;
}

const family = (name: string) => {
  const f = families.find((x) => x.name === name);
  if (!f) throw new Error(`no metric family ${name}`);
  return f;
};
const value = (name: string, labels: Record<string, string> = {}) =>
  Number(family(name).metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))?.value ?? NaN);

beforeAll(async () => {
  const ids = [
    (await createRun({ prompt: "calculate 1 + 1" })).run_id,
    (await createRun({ prompt: "calculate 2 * 3, then calculate the result + 1" })).run_id,
    (await createRun({ prompt: "calculate 5 / 0" })).run_id,
    (
      await createRun({
        plan: { steps: [{ step_number: 1, tool: "Http.get", input: { url: `${upstream}/flaky/metrics-${crypto.randomUUID()}?fail=1` } }] },
        options: { retry: { max_attempts: 3, initial_delay_ms: 10, max_delay_ms: 20 } },
      })
    ).run_id,
  ];
  for (const id of ids) await waitForRun(id);
  // The end-of-run projection is written just after the run ends; wait for the last one.
  for (let i = 0; i < 50; i++) {
    const { n } = (await env.DB.prepare("SELECT count(*) AS n FROM runs WHERE status IN ('completed','failed')").first<{ n: number }>())!;
    if (n === 4) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const res = await app.fetch(new Request("http://crane.test/metrics", { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }), env);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toContain("text/plain");
  exposition = await res.text();
  families = parsePrometheusTextFormat(exposition);
});

describe("GET /metrics", () => {
  it("counts runs by final status, and none in flight", () => {
    expect(family("crane_runs_total").type).toBe("COUNTER");
    expect(value("crane_runs_total", { status: "completed" })).toBe(3);
    expect(value("crane_runs_total", { status: "failed" })).toBe(1);
    expect(value("crane_runs_in_flight")).toBe(0);
  });

  it("has a run duration histogram over every ended run", () => {
    const h = family("crane_run_duration_seconds");
    expect(h.type).toBe("HISTOGRAM");
    expect(Number(h.metrics[0]!.count)).toBe(4);
    expect(Number(h.metrics[0]!.buckets!["+Inf"] ?? h.metrics[0]!.count)).toBe(4);
    expect(Number(h.metrics[0]!.sum)).toBeGreaterThan(0);
  });

  it("counts steps by tool and outcome, and retries by tool", () => {
    expect(value("crane_steps_total", { tool: "Calculator.evaluate", outcome: "succeeded" })).toBe(3);
    expect(value("crane_steps_total", { tool: "Calculator.evaluate", outcome: "failed" })).toBe(1);
    expect(value("crane_steps_total", { tool: "Http.get", outcome: "succeeded" })).toBe(1);
    expect(value("crane_step_retries_total", { tool: "Http.get" })).toBe(1);
    const calc = histogramFor("crane_step_duration_seconds", "tool", "Calculator.evaluate");
    expect(Number(calc.count)).toBe(4);
    expect(Number(calc.buckets!["+Inf"])).toBe(4);
    const http = histogramFor("crane_step_duration_seconds", "tool", "Http.get");
    expect(Number(http.count)).toBe(1);
  });

  it("counts plans by planner and fallback reason", () => {
    expect(value("crane_planner_total", { planner: "rules", fallback_reason: "not_configured" })).toBe(3);
    expect(value("crane_planner_total", { planner: "explicit", fallback_reason: "" })).toBe(1);
  });

  it("shows every queue tool's breaker state", () => {
    expect(value("crane_breaker_state", { tenant: "dev", tool: "Http.get" })).toBe(0);
    expect(family("crane_breaker_state").metrics.map((m) => m.labels?.tool)).toContain("TodoStore.add");
  });

  it("requires the metrics token when one is configured", async () => {
    const withToken = { ...env, METRICS_TOKEN: "s3cret" } as Env;
    const denied = await app.fetch(new Request("http://crane.test/metrics"), withToken);
    expect(denied.status).toBe(401);
    expect(((await denied.json()) as { error: { code: string } }).error.code).toBe("unauthorized");
    const wrong = await app.fetch(new Request("http://crane.test/metrics", { headers: { authorization: "Bearer s3cres" } }), withToken);
    expect(wrong.status).toBe(401);
    const ok = await app.fetch(new Request("http://crane.test/metrics", { headers: { authorization: "Bearer s3cret" } }), withToken);
    expect(ok.status).toBe(200);
    // A tenant's API key is not an operator's token.
    const tenantKey = await app.fetch(new Request("http://crane.test/metrics", { headers: { authorization: `Bearer ${DEV_KEY}` } }), withToken);
    expect(tenantKey.status).toBe(401);
  });

  it("stays closed when neither METRICS_TOKEN nor ADMIN_TOKEN is configured", async () => {
    const unconfigured = { ...env, METRICS_TOKEN: "", ADMIN_TOKEN: "" } as Env;
    expect((await app.fetch(new Request("http://crane.test/metrics"), unconfigured)).status).toBe(401);
    expect((await app.fetch(new Request("http://crane.test/metrics", { headers: { authorization: "Bearer " } }), unconfigured)).status).toBe(401);
  });
});
