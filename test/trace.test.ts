import { describe, expect, inject, it } from "vitest";
import { env } from "cloudflare:workers";
import { otlpExporter } from "../src/lib/otel/exporter";
import { traceIdFrom } from "../src/lib/trace";
import { api, waitForRun } from "./helpers";

const upstream = inject("upstreamUrl");
const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";

describe("W3C trace context", () => {
  it("honours a traceparent on POST /runs and carries it to Http.get's outbound request", async () => {
    const res = await api("/runs", {
      method: "POST",
      json: { plan: { steps: [{ step_number: 1, tool: "Http.get", input: { url: `${upstream}/headers` } }] } },
      headers: { traceparent: `00-${TRACE}-00f067aa0ba902b7-01` },
    });
    expect(res.status).toBe(201);
    const { run_id, trace_id } = (await res.json()) as { run_id: string; trace_id: string };
    expect(trace_id).toBe(TRACE);
    const run = await waitForRun(run_id);
    const seen = (run.result as { body: Record<string, string> }).body.traceparent;
    expect(seen).toMatch(new RegExp(`^00-${TRACE}-[0-9a-f]{16}-01$`));
    expect(seen).not.toContain("00f067aa0ba902b7"); // the step's own span, a child of the caller's
  });

  it("starts a trace when there is none or the header is malformed", async () => {
    for (const headers of [{} as Record<string, string>, { traceparent: "00-zz-nope-01" }, { traceparent: `00-${"0".repeat(32)}-00f067aa0ba902b7-01` }]) {
      const res = await api("/runs", { method: "POST", json: { prompt: "calculate 1 + 1" }, headers });
      const { trace_id } = (await res.json()) as { trace_id: string };
      expect(trace_id).toMatch(/^[0-9a-f]{32}$/);
      expect(trace_id).not.toBe("0".repeat(32));
    }
  });

  it("makes no spans when no OTLP endpoint is set: no exporter, no span ids in the run's events", async () => {
    expect(env.OTEL_EXPORTER_OTLP_ENDPOINT).toBe("");
    expect(otlpExporter(env)).toBeNull();
    const res = await api("/runs", { method: "POST", json: { prompt: "calculate 2 + 5" }, headers: { traceparent: `00-${TRACE}-00f067aa0ba902b7-01` } });
    const { run_id } = (await res.json()) as { run_id: string };
    const page = (await (await api(`/runs/${run_id}/events`)).json()) as { events: { type: string; data: Record<string, unknown> }[] };
    const created = page.events.find((e) => e.type === "run.created")!;
    expect(created.data.trace_id).toBe(TRACE);
    expect(created.data).not.toHaveProperty("parent_span_id");
  });

  it("parses traceparent strictly", () => {
    expect(traceIdFrom(`00-${TRACE}-00f067aa0ba902b7-01`)).toBe(TRACE);
    expect(traceIdFrom(`00-${TRACE.toUpperCase()}-00F067AA0BA902B7-01`)).toBe(TRACE);
    expect(traceIdFrom(`01-${TRACE}-00f067aa0ba902b7-01`)).toBeUndefined();
    expect(traceIdFrom(`00-${TRACE}-${"0".repeat(16)}-01`)).toBeUndefined();
    expect(traceIdFrom(undefined)).toBeUndefined();
  });
});
