import { env } from "cloudflare:workers";
import { afterAll, describe, expect, inject, it, vi } from "vitest";
import { api, SETTLE, uniq, waitForRun } from "../helpers";
import type { ReceivedSpan } from "./received-span";

// The collector's address is the project's OTEL_EXPORTER_OTLP_ENDPOINT; the test asks it what it received.
const collector = env.OTEL_EXPORTER_OTLP_ENDPOINT;
const upstream = inject("upstreamUrl");

const mode = (m: "ok" | "fail" | "hang") => fetch(`${collector}/mode/${m}`, { method: "POST" });
const stats = async () => (await (await fetch(`${collector}/stats`)).json()) as { posts: number; failed: number; held: number };

const hex = (n: number) => [...crypto.getRandomValues(new Uint8Array(n))].map((b) => b.toString(16).padStart(2, "0")).join("");

/** The trace's spans once `done` holds for them (spans arrive in several exports, off every request's path). */
async function spansOf(trace: string, done: (spans: ReceivedSpan[]) => boolean): Promise<ReceivedSpan[]> {
  return vi.waitFor(async () => {
    const spans = (await (await fetch(`${collector}/spans?trace=${trace}`)).json()) as ReceivedSpan[];
    if (!done(spans)) throw new Error(`trace ${trace} has not all arrived: ${spans.map((s) => s.name).join(", ")}`);
    return spans;
  }, SETTLE);
}

const named = (spans: ReceivedSpan[], name: string) => spans.filter((s) => s.name === name);
const one = (spans: ReceivedSpan[], name: string) => {
  const found = named(spans, name);
  expect(found, `${name} in ${spans.map((s) => s.name).join(", ")}`).toHaveLength(1);
  return found[0]!;
};

afterAll(() => mode("ok"));

describe("traces over OTLP/HTTP JSON", () => {
  it("sends one trace per run, in the caller's trace, with each span under the one that caused it", async () => {
    const trace = hex(16);
    const caller = hex(8);
    const res = await api("/runs", {
      method: "POST",
      headers: { traceparent: `00-${trace}-${caller}-01` },
      json: {
        plan: {
          steps: [
            { step_number: 1, tool: "Calculator.evaluate", input: { expression: "6 * 7" } },
            { step_number: 2, tool: "Http.get", input: { url: `${upstream}/headers` }, depends_on: [1] },
            { step_number: 3, tool: "TodoStore.add", input: { title: `traced ${uniq()}` }, depends_on: [2] },
          ],
        },
      },
    });
    expect(res.status).toBe(201);
    const { run_id } = (await res.json()) as { run_id: string };
    const run = await waitForRun(run_id);
    expect(run.status).toBe("completed");
    const spans = await spansOf(trace, (s) => named(s, "run").length === 1 && named(s, "step TodoStore.add").length === 1);

    // Every span is Crane's, for the tenant, in the caller's trace; every parent is in the trace,
    // but for the root, whose parent is the caller's span.
    for (const s of spans) {
      expect(s.traceId).toBe(trace);
      expect(s.resource).toMatchObject({ "service.name": "crane", "crane.tenant": "dev" });
      expect(s.spanId).toMatch(/^[0-9a-f]{16}$/);
      expect(BigInt(s.endTimeUnixNano) >= BigInt(s.startTimeUnixNano)).toBe(true);
    }
    expect(new Set(spans.map((s) => s.spanId)).size).toBe(spans.length);
    const ids = new Set(spans.map((s) => s.spanId));
    const roots = spans.filter((s) => !s.parentSpanId || !ids.has(s.parentSpanId));
    expect(roots.map((s) => s.name)).toEqual(["start run"]);
    const start = roots[0]!;
    expect(start.parentSpanId).toBe(caller);
    expect(start.attributes["crane.run_id"]).toBe(run_id);

    const runSpan = one(spans, "run");
    expect(runSpan.parentSpanId).toBe(start.spanId);
    expect(runSpan.attributes).toMatchObject({ "crane.run_id": run_id, "crane.run_status": "completed" });
    const commands = spans.filter((s) => s.name.startsWith("RunObject."));
    expect(commands.length).toBeGreaterThanOrEqual(3); // the create, and a report for each queued step
    for (const c of commands) expect(c.parentSpanId).toBe(runSpan.spanId);
    const create = one(spans, "RunObject.create");

    // The inline step ran inside the create; the queued ones in consumers, under the command that
    // dispatched them (the Http.get by the create, once the calculation had succeeded there).
    expect(one(spans, "step Calculator.evaluate").parentSpanId).toBe(create.spanId);
    const http = one(spans, "step Http.get");
    expect(http.parentSpanId).toBe(create.spanId);
    expect(http.attributes).toMatchObject({ "crane.outcome": "succeeded", "crane.step": 2, "crane.attempt": 1 });
    const todo = one(spans, "step TodoStore.add");
    const dispatcher = commands.find((c) => c.spanId === todo.parentSpanId);
    expect(dispatcher?.name).toBe("RunObject.report"); // the report of step 2 dispatched step 3

    // The outbound request is a client span under the attempt, and its traceparent names it.
    const get = one(spans, "GET");
    expect(get.kind).toBe(3);
    expect(get.parentSpanId).toBe(http.spanId);
    expect(get.attributes).toMatchObject({ "http.request.method": "GET", "http.response.status_code": 200, "url.full": `${upstream}/headers` });
    const echoed = (run.execution_log.find((s) => s.step_number === 2)!.output as { body: Record<string, string> }).body.traceparent;
    expect(echoed).toBe(`00-${trace}-${get.spanId}-01`);
  });

  it("records the planner's model call under the start of the run, and starts a trace when the caller sent none", async () => {
    const res = await api("/runs", { method: "POST", json: { prompt: `add 2 and 3, and 4 and 5, then list my todos ${uniq()}` } });
    expect(res.status).toBe(201);
    const { run_id, trace_id } = (await res.json()) as { run_id: string; trace_id: string };
    await waitForRun(run_id);
    const spans = await spansOf(trace_id, (s) => named(s, "run").length === 1 && named(s, "chat valid-parallel").length === 1);
    const start = one(spans, "start run");
    expect(start.parentSpanId).toBeUndefined();
    const chat = one(spans, "chat valid-parallel");
    expect(chat.kind).toBe(3);
    expect(chat.parentSpanId).toBe(start.spanId);
    expect(chat.attributes).toMatchObject({ "gen_ai.operation.name": "chat", "gen_ai.request.model": "valid-parallel" });
    expect(chat.status).toBeUndefined();
    expect(one(spans, "run").parentSpanId).toBe(start.spanId);
    expect(named(spans, "step Calculator.evaluate")).toHaveLength(2);
  });

  it("answers as usual while the collector fails, and logs the failure once", async () => {
    const errors = vi.spyOn(console, "error");
    try {
      await mode("fail");
      const before = await stats();
      for (let i = 0; i < 2; i++) {
        const res = await api("/runs?wait=10", {
          method: "POST",
          json: { plan: { steps: [{ step_number: 1, tool: "Http.get", input: { url: `${upstream}/ok` } }] } },
        });
        expect(res.status).toBe(201);
        expect(((await res.json()) as { status: string }).status).toBe("completed");
      }
      // Each run makes several exports (the start, its commands, the consumer's batch): all refused.
      await vi.waitFor(async () => expect((await stats()).failed - before.failed).toBeGreaterThanOrEqual(4), SETTLE);
      const logged = errors.mock.calls.filter((c) => String(c[0]).includes('"otel.export_failed"'));
      expect(logged).toHaveLength(1);
      expect(JSON.parse(String(logged[0]![0]))).toMatchObject({ level: "error", error_message: "the collector answered 503" });
    } finally {
      errors.mockRestore();
      await mode("ok");
    }
    // Once it answers again, spans flow.
    const trace = hex(16);
    const res = await api("/runs?wait=10", { method: "POST", headers: { traceparent: `00-${trace}-${hex(8)}-01` }, json: { prompt: "calculate 2 + 2" } });
    expect(res.status).toBe(201);
    await spansOf(trace, (s) => named(s, "run").length === 1);
  });

  it("does not hold a request while the collector hangs", async () => {
    await mode("hang");
    try {
      const first = await api("/runs?wait=10", { method: "POST", json: { prompt: "calculate 3 + 3" } });
      expect(first.status).toBe(201);
      // The collector now holds exports unanswered: a run that starts and ends meanwhile is not held by them.
      await vi.waitFor(async () => expect((await stats()).held).toBeGreaterThan(0), SETTLE);
      const second = await api("/runs?wait=10", {
        method: "POST",
        json: { plan: { steps: [{ step_number: 1, tool: "Http.get", input: { url: `${upstream}/ok` } }] } },
      });
      expect(second.status).toBe(201);
      expect(((await second.json()) as { status: string }).status).toBe("completed");
      expect((await stats()).held).toBeGreaterThan(0);
    } finally {
      await mode("ok");
    }
  });
});
