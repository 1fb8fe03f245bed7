// Real answers against the served OpenAPI document: for requests that reach every route and
// every kind of answer it documents, the status must be documented for that operation, the
// content type must be the documented one, required headers (Location, Retry-After,
// WWW-Authenticate) must be there, and the body must validate against the documented schema
// (JSON Schema 2020-12, with @cfworker/json-schema, which runs in workerd without generating
// code). WebSocket messages and stream events are checked against the Event component.
import { forgetHealth } from "../src/api/health";
import type { Schema } from "@cfworker/json-schema";
import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterAll, beforeAll, describe, expect, inject, it, vi } from "vitest";
import { app } from "../src/app";
import type { RunResource } from "../src/durable/run/run-view";
import { ADMIN_TOKEN, api, createRun, newApiKey, waitForRun } from "./helpers";
import { DocumentChecker, essence, type OpenApiDocument } from "./openapi-check";

let doc: OpenApiDocument;
let checker: DocumentChecker;
const checked: string[] = [];

const validatorFor = (key: string, schema: Schema) => checker.validatorFor(key, schema);

function expectValid(key: string, schema: Schema, value: unknown, what: string): void {
  expect(checker.errorsOf(key, schema, value), `${what}: ${JSON.stringify(value).slice(0, 300)}`).toEqual([]);
}

const eventSchema = (): Schema => ({ $ref: "#/components/schemas/Event" });

/**
 * Checks one real answer: it has the status the test expects, and the document describes it.
 * Returns its body (parsed JSON, text, or the response of a stream). The expected status is an
 * argument, not a comment: the document alone would accept any status it lists (a 201 where the
 * test means a 429).
 */
async function conforms(method: string, template: string, status: number, res: Response): Promise<unknown> {
  const type = essence(res.headers.get("content-type"));
  const body = type === "text/event-stream" || res.status === 101 ? res : type === "application/json" ? await res.json() : await res.text();
  const shown = body instanceof Response ? "" : `: ${JSON.stringify(body).slice(0, 300)}`;
  expect(res.status, `${method.toUpperCase()} ${template}${shown}`).toBe(status);
  expect(checker.check(method, template, { status: res.status, headers: res.headers, body })).toEqual([]);
  checked.push(`${method.toUpperCase()} ${template} ${res.status}`);
  return body;
}

/** Whether the document's schema for the request body accepts `body`. */
function requestAccepts(method: string, template: string, body: unknown): boolean {
  const schema = doc.paths[template]![method]!.requestBody!.content["application/json"]!.schema;
  return validatorFor(`request ${method} ${template}`, schema).validate(body).valid;
}

const call = (path: string, init: Parameters<typeof api>[1] = {}) => api(path, init);
const admin = (path: string, init: Parameters<typeof api>[1] = {}) => api(path, { ...init, key: ADMIN_TOKEN });

beforeAll(async () => {
  const res = await call("/openapi.json", { key: null });
  expect(res.status).toBe(200);
  doc = (await res.json()) as OpenApiDocument;
  checker = new DocumentChecker(doc);
});

afterAll(() => {
  // Enough answers, and every documented operation among them.
  expect(checked.length).toBeGreaterThanOrEqual(40);
  const operations = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
  const reached = new Set(checked.map((c) => c.replace(/ \d+$/, "")));
  expect(operations.filter((o) => !reached.has(o))).toEqual([]);
});

describe("the OpenAPI document matches what the server answers", () => {
  it("has checks with teeth: a wrong shape fails them", () => {
    const run: Schema = { $ref: "#/components/schemas/Run" };
    expect(validatorFor("teeth Run", run).validate({ run_id: "run_x" }).valid).toBe(false);
    expect(validatorFor("teeth Event", eventSchema()).validate({ seq: 1, type: "run.failed", at: new Date().toISOString(), data: { result: 1 } }).valid).toBe(
      false,
    );
    expect(
      validatorFor("teeth Event", eventSchema()).validate({ seq: 1, type: "run.completed", at: new Date().toISOString(), data: { result: 1 } }).valid,
    ).toBe(true);
    expect(validatorFor("teeth Error", { $ref: "#/components/schemas/Error" }).validate({ error: { code: "Not Snake", message: "x" } }).valid).toBe(false);
  });

  it("POST /runs: created, replayed, waited on, refused", async () => {
    const R = "/api/v1/runs";
    const created = (await conforms(
      "post",
      R,
      201,
      await call("/runs", { method: "POST", json: { prompt: "calculate 2 + 3 and add the result as a todo, then show me all my tasks" } }),
    )) as RunResource;
    await waitForRun(created.run_id);
    const idem = { "idempotency-key": `conformance-${crypto.randomUUID()}` };
    const body = { plan: { steps: [{ step_number: 1, tool: "Calculator.evaluate", input: { expression: "6*7" } }] }, options: { retry: { max_attempts: 2 } } };
    expect(requestAccepts("post", R, body)).toBe(true);
    expect((await call("/runs", { method: "POST", json: body, headers: idem })).status).toBe(201);
    await conforms("post", R, 200, await call("/runs", { method: "POST", json: body, headers: idem }));
    await conforms(
      "post",
      R,
      409,
      await call("/runs", {
        method: "POST",
        json: { plan: { steps: [{ step_number: 1, tool: "Calculator.evaluate", input: { expression: "1" } }] } },
        headers: idem,
      }),
    );
    await conforms("post", R, 201, await call("/runs?wait=5", { method: "POST", json: { prompt: "calculate 6 * 7" } }));
    const notYet = await call("/runs?wait=0.2", { method: "POST", json: { prompt: "wait 30 seconds then calculate 1 + 1" } });
    const pending = (await conforms("post", R, 202, notYet)) as RunResource;
    await conforms("post", "/api/v1/runs/{run_id}/cancel", 200, await call(`/runs/${pending.run_id}/cancel`, { method: "POST" }));

    // Bodies the document forbids are the bodies the server refuses, with a 400.
    for (const bad of [
      {},
      { prompt: "x", plan: body.plan },
      { prompt: "" },
      { prompt: "  \n" },
      { prompt: 42 },
      { prompt: "calculate 1", extra: true },
      { prompt: "calculate 1", options: { turbo: true } },
    ]) {
      expect(requestAccepts("post", R, bad), JSON.stringify(bad)).toBe(false);
      await conforms("post", R, 400, await call("/runs", { method: "POST", json: bad }));
    }
    for (const [init, status] of [
      [{ method: "POST", body: "{ nope", headers: { "content-type": "application/json" } }, 400],
      [{ method: "POST", json: { prompt: "what is the meaning of life" } }, 400],
      [{ method: "POST", json: { prompt: "calculate 1 + 1" }, headers: { "idempotency-key": "has spaces" } }, 400],
      [{ method: "POST", json: { prompt: "x".repeat(70 * 1024) } }, 413],
      [{ method: "POST", body: '{"prompt":"calculate 1 + 1"}', headers: { "content-type": "text/plain" } }, 415],
      [{ method: "POST", json: { prompt: "calculate 1 + 1" }, key: null }, 401],
    ] as const) {
      await conforms("post", R, status, await call("/runs", init));
    }
    await conforms("post", R, 400, await call("/runs?wait=99", { method: "POST", json: { prompt: "calculate 1 + 1" } }));

    // The tenant's cap on runs in flight: 429 with Retry-After.
    const key = await newApiKey(`conf-${crypto.randomUUID().slice(0, 8)}`);
    const capped = { ...env, MAX_RUNS_IN_FLIGHT: "1" } as Env;
    const post = () =>
      app.fetch(
        new Request("http://crane.test/api/v1/runs", {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${key.secret}` },
          body: JSON.stringify({ prompt: "wait 30 seconds then calculate 2 + 2" }),
        }),
        capped,
      );
    const holding = (await conforms("post", R, 201, await post())) as RunResource;
    await conforms("post", R, 429, await post());
    expect((await call(`/runs/${holding.run_id}/cancel`, { method: "POST", key: key.secret })).status).toBe(200);
  });

  it("reading runs: list, one run, its events and usage", async () => {
    const done = await createRun({ prompt: "calculate 10 / 0" }); // fails: step.failed, run.failed
    await waitForRun(done.run_id);
    const ok = await createRun({ prompt: "calculate 1 + 1 and add a todo to check the conformance, then list my todos" });
    await waitForRun(ok.run_id);
    const missing = `run_${"0".repeat(32)}`;

    await conforms("get", "/api/v1/runs", 200, await call("/runs?limit=5"));
    for (const q of ["limit=0", "status=bogus", "cursor=bm9wZQ"]) await conforms("get", "/api/v1/runs", 400, await call(`/runs?${q}`));
    await conforms("get", "/api/v1/runs", 401, await call("/runs", { key: "crane_not_a_key" }));

    for (const id of [done.run_id, ok.run_id]) {
      await conforms("get", "/api/v1/runs/{run_id}", 200, await call(`/runs/${id}`));
      const page = (await conforms("get", "/api/v1/runs/{run_id}/events", 200, await call(`/runs/${id}/events`))) as { events: { type: string }[] };
      expect(page.events.length).toBeGreaterThan(3);
      await conforms("get", "/api/v1/runs/{run_id}/usage", 200, await call(`/runs/${id}/usage`));
    }
    // Any id the server does not know, malformed or not, is the documented 404.
    for (const id of [missing, "not-a-run-id"]) {
      await conforms("get", "/api/v1/runs/{run_id}", 404, await call(`/runs/${id}`));
      await conforms("get", "/api/v1/runs/{run_id}/usage", 404, await call(`/runs/${id}/usage`));
    }
    await conforms("get", "/api/v1/runs/{run_id}/events", 404, await call(`/runs/${missing}/events`));
    await conforms("get", "/api/v1/runs/{run_id}/events", 400, await call(`/runs/${ok.run_id}/events?after=-1`));
  });

  it("cancelling, pausing and resuming", async () => {
    const run = await createRun({ prompt: "wait 30 seconds then calculate 3 + 3" });
    const cancel = `/runs/${run.run_id}/cancel`;
    const resume = `/runs/${run.run_id}/resume`;
    const pause = `/runs/${run.run_id}/pause`;
    await conforms("post", "/api/v1/runs/{run_id}/pause", 200, await call(pause, { method: "POST" }));
    await conforms("post", "/api/v1/runs/{run_id}/resume", 200, await call(resume, { method: "POST" })); // paused: goes on
    await conforms("post", "/api/v1/runs/{run_id}/pause", 404, await call(`/runs/nope/pause`, { method: "POST" }));
    const json = { "content-type": "application/json" };
    await conforms("post", "/api/v1/runs/{run_id}/cancel", 400, await call(cancel, { method: "POST", headers: json, body: '{"compensate":"yes"}' }));
    await conforms("post", "/api/v1/runs/{run_id}/cancel", 200, await call(cancel, { method: "POST" }));
    await conforms("post", "/api/v1/runs/{run_id}/cancel", 409, await call(cancel, { method: "POST" })); // already ended
    await conforms("post", "/api/v1/runs/{run_id}/resume", 200, await call(resume, { method: "POST" }));
    await conforms("post", "/api/v1/runs/{run_id}/resume", 409, await call(resume, { method: "POST" })); // running again
    expect((await call(cancel, { method: "POST" })).status).toBe(200);
    await conforms("post", "/api/v1/runs/{run_id}/pause", 409, await call(pause, { method: "POST" })); // ended
    await conforms("post", "/api/v1/runs/{run_id}/cancel", 404, await call(`/runs/run_${"0".repeat(32)}/cancel`, { method: "POST" }));
    await conforms("post", "/api/v1/runs/{run_id}/resume", 404, await call(`/runs/nope/resume`, { method: "POST" }));
  });

  it("many runs at once: a batch", async () => {
    const B = "/api/v1/runs/batch";
    const calc = { plan: { steps: [{ step_number: 1, tool: "Calculator.evaluate", input: { expression: "1 + 1" } }] } };
    const body = (await conforms("post", B, 207, await call("/runs/batch", { method: "POST", json: { runs: [calc, { prompt: 1 }] } }))) as {
      results: unknown[];
    };
    expect(body.results).toHaveLength(2);
    expect(requestAccepts("post", B, { runs: [calc] })).toBe(true);
    await conforms("post", B, 400, await call("/runs/batch", { method: "POST", json: { runs: "x" } }));
  });

  it("bulk jobs: started, shown, refused", async () => {
    const started = (await conforms(
      "post",
      "/api/v1/runs/bulk",
      202,
      await call("/runs/bulk", { method: "POST", json: { action: "cancel", filter: { created_before: "2000-01-01T00:00:00Z" } } }),
    )) as { job_id: string };
    await conforms("post", "/api/v1/runs/bulk", 400, await call("/runs/bulk", { method: "POST", json: { action: "cancel", filter: {} } }));
    await runDurableObjectAlarm(env.BULK_JOBS.getByName(started.job_id));
    const job = (await conforms("get", "/api/v1/jobs/{job_id}", 200, await call(`/jobs/${started.job_id}`))) as { status: string; matched: number };
    expect(job).toMatchObject({ status: "completed", matched: 0 });
    await conforms("get", "/api/v1/jobs/{job_id}", 404, await call("/jobs/job_nope"));
  });

  it("rerun from a step: created, replayed, refused", async () => {
    const R = "/api/v1/runs/{run_id}/rerun";
    const done = await createRun({ plan: { steps: [{ step_number: 1, tool: "Calculator.evaluate", input: { expression: "1 + 1" } }] } });
    const rerun = (runId: string, json: unknown, headers: Record<string, string> = {}) => call(`/runs/${runId}/rerun`, { method: "POST", json, headers });
    const key = { "idempotency-key": `conformance-rerun-${crypto.randomUUID()}` };
    await conforms("post", R, 201, await rerun(done.run_id, { from_step: 1 }, key));
    await conforms("post", R, 200, await rerun(done.run_id, { from_step: 1 }, key));
    await conforms("post", R, 400, await rerun(done.run_id, { from_step: 5 }));
    await conforms("post", R, 404, await rerun("run_nope", { from_step: 1 }));
    const waiting = await createRun({ plan: { steps: [{ step_number: 1, tool: "Wait.signal", input: { name: "x" } }] } });
    await conforms("post", R, 409, await rerun(waiting.run_id, { from_step: 1 }));
    await call(`/runs/${waiting.run_id}/cancel`, { method: "POST" });
  });

  it("deciding an approval: the step, refusals, and the waiting run's events", async () => {
    const D = "/api/v1/runs/{run_id}/steps/{step}/decision";
    const plan = {
      steps: [
        { step_number: 1, tool: "Human.approve", input: { message: "conformance?" } },
        { step_number: 2, tool: "Calculator.evaluate", input: { expression: "1 + 1" }, depends_on: [1] },
      ],
    };
    const run = (await conforms("post", "/api/v1/runs", 201, await call("/runs", { method: "POST", json: { plan } }))) as RunResource;
    expect(run.status).toBe("waiting");
    await conforms("get", "/api/v1/runs/{run_id}", 200, await call(`/runs/${run.run_id}`));
    await conforms("get", "/api/v1/runs", 200, await call("/runs?status=waiting"));
    const decide = (id: string, step: string, json: unknown) => call(`/runs/${id}/steps/${step}/decision`, { method: "POST", json });
    expect(requestAccepts("post", D, { decision: "approve", comment: "ok" })).toBe(true);
    expect(requestAccepts("post", D, { decision: "maybe" })).toBe(false);
    await conforms("post", D, 409, await decide(run.run_id, "2", { decision: "approve" })); // not waiting yet
    await conforms("post", D, 400, await decide(run.run_id, "1", { decision: "maybe" }));
    await conforms("post", D, 404, await decide(run.run_id, "7", { decision: "approve" })); // no such step
    await conforms("post", D, 404, await decide(`run_${"0".repeat(32)}`, "1", { decision: "approve" })); // no such run
    await conforms("post", D, 200, await decide(run.run_id, "1", { decision: "approve", comment: "ok" }));
    await conforms("post", D, 409, await decide(run.run_id, "1", { decision: "reject" })); // decided already
    await conforms(
      "post",
      D,
      415,
      await call(`/runs/${run.run_id}/steps/1/decision`, { method: "POST", body: "x", headers: { "content-type": "text/plain" } }),
    );
    await conforms("post", D, 401, await call(`/runs/${run.run_id}/steps/1/decision`, { method: "POST", json: { decision: "approve" }, key: null }));
    const page = (await conforms("get", "/api/v1/runs/{run_id}/events", 200, await call(`/runs/${run.run_id}/events`))) as { events: { type: string }[] };
    expect(page.events.map((e) => e.type)).toEqual(expect.arrayContaining(["step.waiting", "step.decided"]));
  });

  it("decision links: issued, their pages shown and used, refusals", async () => {
    const L = "/api/v1/runs/{run_id}/steps/{step}/decision-link";
    const P = "/decide/{run_id}/{token}";
    const plan = { steps: [{ step_number: 1, tool: "Human.approve", input: { message: "link?" } }] };
    const run = (await conforms("post", "/api/v1/runs", 201, await call("/runs", { method: "POST", json: { plan } }))) as RunResource;
    const issue = (id: string, step: string, key?: null) =>
      call(`/runs/${id}/steps/${step}/decision-link`, { method: "POST", ...(key === null ? { key } : {}) });
    const links = (await conforms("post", L, 201, await issue(run.run_id, "1"))) as { approve_url: string; reject_url: string };
    await conforms("post", L, 404, await issue(run.run_id, "2")); // no such step
    await conforms("post", L, 404, await issue(`run_${"0".repeat(32)}`, "1")); // no such run
    await conforms("post", L, 401, await issue(run.run_id, "1", null));
    const page = (url: string, init?: RequestInit) => app.request(new URL(url).pathname, init, env);
    const form = { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "comment=ok" };
    await conforms("get", P, 200, await page(links.approve_url));
    await conforms("get", P, 404, await page(`http://x/decide/${run.run_id}/dl_${"0".repeat(48)}`));
    await conforms("post", P, 413, await page(links.approve_url, { ...form, body: `comment=${"x".repeat(9000)}` }));
    await conforms("post", P, 200, await page(links.approve_url, form));
    await conforms("post", P, 409, await page(links.reject_url, form));
    await conforms("get", P, 409, await page(links.reject_url));
    await conforms("post", L, 409, await issue(run.run_id, "1")); // not waiting
  });

  it("signalling a run: kept, delivered, refused", async () => {
    const S = "/api/v1/runs/{run_id}/signals/{name}";
    const plan = { steps: [{ step_number: 1, tool: "Wait.signal", input: { name: "go", timeout_seconds: 600 } }] };
    const run = (await conforms("post", "/api/v1/runs", 201, await call("/runs", { method: "POST", json: { plan } }))) as RunResource;
    const signal = (id: string, name: string, json: unknown) => call(`/runs/${id}/signals/${name}`, { method: "POST", json });
    expect(requestAccepts("post", S, { payload: { any: ["json"] } })).toBe(true);
    expect(requestAccepts("post", S, { payload: 1, more: 2 })).toBe(false);
    await conforms("post", S, 202, await signal(run.run_id, "later", { payload: [1, 2] })); // kept
    await conforms("post", S, 202, await signal(run.run_id, "go", { payload: { ok: true } })); // delivered
    await conforms("post", S, 409, await signal(run.run_id, "go", {})); // the run has ended
    await conforms("post", S, 400, await signal(run.run_id, "bad%20name", {}));
    await conforms("post", S, 404, await signal(`run_${"0".repeat(32)}`, "go", {}));
    await conforms("post", S, 413, await call(`/runs/${run.run_id}/signals/go`, { method: "POST", json: { payload: "z".repeat(70_000) } }));
    await conforms("post", S, 415, await call(`/runs/${run.run_id}/signals/go`, { method: "POST", body: "x", headers: { "content-type": "text/plain" } }));
    await conforms("post", S, 401, await call(`/runs/${run.run_id}/signals/go`, { method: "POST", json: {}, key: null }));
    const page = (await conforms("get", "/api/v1/runs/{run_id}/events", 200, await call(`/runs/${run.run_id}/events`))) as { events: { type: string }[] };
    expect(page.events.map((e) => e.type)).toEqual(expect.arrayContaining(["step.waiting", "signal.received", "step.succeeded"]));
  });

  it("watching: watch tokens, the WebSocket and the event stream, each event an Event", async () => {
    const run = await createRun({ prompt: "calculate 4 * 4 and calculate 5 * 5, then list my todos" });
    await waitForRun(run.run_id);
    const WT = "/api/v1/runs/{run_id}/watch-token";
    const { token } = (await conforms("post", WT, 201, await call(`/runs/${run.run_id}/watch-token`, { method: "POST" }))) as { token: string };
    await conforms("post", WT, 404, await call(`/runs/run_${"0".repeat(32)}/watch-token`, { method: "POST" }));

    const WS = "/api/v1/runs/{run_id}/ws";
    const socket = await call(`/runs/${run.run_id}/ws?token=${token}`, { key: null, headers: { upgrade: "websocket" } });
    await conforms("get", WS, 101, socket);
    const ws = socket.webSocket!;
    const messages: unknown[] = [];
    ws.accept();
    await new Promise<void>((resolve) => {
      ws.addEventListener("message", (e) => {
        const event = JSON.parse(String(e.data)) as { type: string };
        messages.push(event);
        if (event.type === "run.completed") resolve();
      });
    });
    ws.close();
    for (const m of messages) expectValid("Event", eventSchema(), m, "a WebSocket message");
    await conforms("get", WS, 426, await call(`/runs/${run.run_id}/ws`)); // not an upgrade
    await conforms("get", WS, 400, await call(`/runs/${run.run_id}/ws?after=x`, { headers: { upgrade: "websocket" } }));
    await conforms("get", WS, 401, await call(`/runs/${run.run_id}/ws`, { key: null, headers: { upgrade: "websocket" } }));
    await conforms("get", WS, 404, await call(`/runs/run_${"0".repeat(32)}/ws`, { headers: { upgrade: "websocket" } }));

    const SSE = "/api/v1/runs/{run_id}/stream";
    const stream = (await conforms("get", SSE, 200, await call(`/runs/${run.run_id}/stream`))) as Response;
    const reader = stream.body!.getReader();
    let text = "";
    while (!text.includes("run.completed")) text += new TextDecoder().decode((await reader.read()).value);
    await reader.cancel();
    const events = text.split("\n\n").filter((block) => block.startsWith("id: "));
    expect(events.length).toBeGreaterThan(5);
    for (const block of events) {
      const [id, name, data] = block.split("\n");
      const event = JSON.parse(data!.replace(/^data: /, "")) as { seq: number; type: string };
      expect(Number(id!.replace("id: ", ""))).toBe(event.seq);
      expect(name).toBe(`event: ${event.type}`);
      expectValid("Event", eventSchema(), event, "a stream event");
    }
    await conforms("get", SSE, 400, await call(`/runs/${run.run_id}/stream`, { headers: { "last-event-id": "x" } }));
    await conforms("get", SSE, 404, await call(`/runs/run_${"0".repeat(32)}/stream`));
    await conforms("get", SSE, 401, await call(`/runs/${run.run_id}/stream`, { key: null }));
    await conforms("get", SSE, 204, await call(`/runs/${run.run_id}/stream?token=${token}`, { key: null, headers: { "last-event-id": "999999" } })); // ended
    await conforms("get", SSE, 401, await call(`/runs/${run.run_id}/stream?token=wt_${"0".repeat(48)}`, { key: null })); // get a new token
  });

  it("a run's watch tokens run out: 429 with Retry-After", async () => {
    const run = await createRun({ prompt: "calculate 7 * 7" });
    await Promise.all(Array.from({ length: 100 }, () => call(`/runs/${run.run_id}/watch-token`, { method: "POST" }).then((r) => r.body?.cancel())));
    await conforms("post", "/api/v1/runs/{run_id}/watch-token", 429, await call(`/runs/${run.run_id}/watch-token`, { method: "POST" }));
  });

  it("schedules: created, listed, read, changed, triggered, deleted, refused", async () => {
    const L = "/api/v1/schedules";
    const S = "/api/v1/schedules/{schedule_id}";
    const T = "/api/v1/schedules/{schedule_id}/trigger";
    const body = {
      cron: "0 9 * * 1-5",
      timezone: "Europe/Paris",
      name: "conformance",
      plan: { steps: [{ step_number: 1, tool: "Calculator.evaluate", input: { expression: "6*7" } }] },
    };
    expect(requestAccepts("post", L, body)).toBe(true);
    const made = (await conforms("post", L, 201, await call("/schedules", { method: "POST", json: body }))) as { schedule_id: string };
    await conforms(
      "post",
      L,
      201,
      await call("/schedules", { method: "POST", json: { cron: "*/10 * * * * *", prompt: "calculate 1 + 1", overlap: "allow", paused: true } }),
    );
    for (const bad of [{ cron: "0 9 * * *" }, { ...body, prompt: "calculate 1" }, { ...body, every: "day" }, { ...body, overlap: "queue" }]) {
      expect(requestAccepts("post", L, bad), JSON.stringify(bad)).toBe(false);
      await conforms("post", L, 400, await call("/schedules", { method: "POST", json: bad }));
    }
    for (const refused of [
      { ...body, cron: "bad" },
      { ...body, timezone: "Nowhere/Else" },
    ])
      await conforms("post", L, 400, await call("/schedules", { method: "POST", json: refused }));
    await conforms("post", L, 415, await call("/schedules", { method: "POST", body: "cron=x", headers: { "content-type": "text/plain" } }));
    await conforms("post", L, 413, await call("/schedules", { method: "POST", json: { ...body, name: "z".repeat(70_000) } }));
    await conforms("post", L, 401, await call("/schedules", { method: "POST", json: body, key: null }));
    await conforms("get", L, 200, await call("/schedules"));
    await conforms("get", L, 401, await call("/schedules", { key: null }));

    const id = made.schedule_id;
    const missing = `sch_${"0".repeat(32)}`;
    await conforms("get", S, 200, await call(`/schedules/${id}`));
    await conforms("get", S, 404, await call(`/schedules/${missing}`));
    await conforms("patch", S, 200, await call(`/schedules/${id}`, { method: "PATCH", json: { paused: true, name: null } }));
    await conforms("patch", S, 400, await call(`/schedules/${id}`, { method: "PATCH", json: { cron: "nope" } }));
    await conforms("patch", S, 400, await call(`/schedules/${id}`, { method: "PATCH", json: { prompt: "calculate 1", plan: body.plan } }));
    await conforms("patch", S, 404, await call(`/schedules/nope`, { method: "PATCH", json: { paused: false } }));
    await conforms("patch", S, 415, await call(`/schedules/${id}`, { method: "PATCH", body: "x", headers: { "content-type": "text/plain" } }));
    await conforms("patch", S, 413, await call(`/schedules/${id}`, { method: "PATCH", json: { name: "y".repeat(70_000) } }));
    await conforms("post", T, 201, await call(`/schedules/${id}/trigger`, { method: "POST" }));
    await conforms("post", T, 404, await call(`/schedules/${missing}/trigger`, { method: "POST" }));
    const read = (await conforms("get", S, 200, await call(`/schedules/${id}`))) as { recent_runs: unknown[] };
    expect(read.recent_runs).toHaveLength(1);
    await conforms("delete", S, 204, await call(`/schedules/${id}`, { method: "DELETE" }));
    await conforms("delete", S, 404, await call(`/schedules/${id}`, { method: "DELETE" }));
    const list = (await (await call("/schedules")).json()) as { schedules: { schedule_id: string }[] };
    for (const s of list.schedules) await call(`/schedules/${s.schedule_id}`, { method: "DELETE" });
  });

  it("plans, tools, breakers, health and the document itself", async () => {
    await conforms("post", "/api/v1/plans", 200, await call("/plans", { method: "POST", json: { prompt: "calculate 2 + 3 then list my todos" } }));
    await conforms("post", "/api/v1/plans", 400, await call("/plans", { method: "POST", json: { prompt: "" } }));
    await conforms(
      "post",
      "/api/v1/plans",
      415,
      await call("/plans", { method: "POST", body: "[", headers: { "content-type": "application/x-www-form-urlencoded" } }),
    );
    await conforms("post", "/api/v1/plans", 413, await call("/plans", { method: "POST", json: { prompt: "y".repeat(70_000) } }));
    await conforms("get", "/api/v1/tools", 200, await call("/tools"));
    await conforms("get", "/api/v1/tools", 401, await call("/tools", { key: null }));
    await conforms("get", "/api/v1/breakers", 200, await call("/breakers"));
    await conforms("get", "/api/v1/breakers", 401, await call("/breakers", { key: null }));
    await conforms("post", "/api/v1/breakers/{tool}/reset", 200, await call("/breakers/Http.get/reset", { method: "POST" }));
    await conforms("post", "/api/v1/breakers/{tool}/reset", 404, await call("/breakers/Nope.nothing/reset", { method: "POST" }));
    await conforms("get", "/api/v1/health", 200, await call("/health", { key: null }));
    await env.DB.exec("ALTER TABLE runs RENAME TO runs_away");
    // The health answer is cached for a few seconds: the fault shows once the cached answer is forgotten.
    forgetHealth();
    try {
      await conforms("get", "/api/v1/health", 503, await call("/health", { key: null })); // the Health shape
    } finally {
      await env.DB.exec("ALTER TABLE runs_away RENAME TO runs");
    }
    await conforms("get", "/api/v1/openapi.json", 200, await call("/openapi.json", { key: null }));
  });

  it("webhooks: subscriptions, their deliveries, the run-webhook secret, refusals", async () => {
    const W = "/api/v1/webhooks";
    const { secret: key } = await newApiKey(`conformance-wh-${crypto.randomUUID().slice(0, 8)}`);
    const as = (path: string, init: Parameters<typeof api>[1] = {}) => api(path, { ...init, key });
    const receiver = `${inject("receiverUrl")}/hook/conformance-${crypto.randomUUID().slice(0, 8)}`;
    // A run's own webhook before the tenant has the secret that signs it: 400.
    await conforms("post", "/api/v1/runs", 400, await as("/runs", { method: "POST", json: { prompt: "calculate 1 + 1", webhook: { url: receiver } } }));
    const hook = (await conforms("post", W, 201, await as("/webhooks", { method: "POST", json: { url: receiver, events: ["run.completed"] } }))) as {
      webhook_id: string;
    };
    for (const bad of [{ url: receiver, events: [] }, { url: "http://10.0.0.1/x", events: ["run.completed"] }, { url: receiver }]) {
      expect(requestAccepts("post", W, bad)).toBe(bad.url !== receiver || (bad.events?.length ?? 0) > 0);
      await conforms("post", W, 400, await as("/webhooks", { method: "POST", json: bad }));
    }
    await conforms("post", W, 415, await as("/webhooks", { method: "POST", body: "url=x", headers: { "content-type": "application/x-www-form-urlencoded" } }));
    await conforms("get", W, 200, await as("/webhooks"));
    await conforms("post", `${W}/signing-secret`, 200, await as("/webhooks/signing-secret", { method: "POST" }));
    const run = (await (await as("/runs", { method: "POST", json: { prompt: "calculate 2 + 2", webhook: { url: receiver } } })).json()) as RunResource;
    expect(run.status).toBe("completed");
    const D = `${W}/{webhook_id}/deliveries`;
    await vi.waitFor(
      async () => {
        const page = (await (await as(`/webhooks/${hook.webhook_id}/deliveries`)).json()) as { deliveries: { status: string }[] };
        expect(page.deliveries[0]?.status).toBe("delivered");
      },
      { timeout: 10_000, interval: 20 },
    );
    await conforms("get", D, 200, await as(`/webhooks/${hook.webhook_id}/deliveries?limit=10`));
    await conforms("get", D, 400, await as(`/webhooks/${hook.webhook_id}/deliveries?limit=0`));
    await conforms("get", D, 404, await as("/webhooks/wh_nope/deliveries"));
    // At the tenant's limit: 409.
    for (let i = 1; i < 20; i++) expect((await as("/webhooks", { method: "POST", json: { url: receiver, events: ["run.failed"] } })).status).toBe(201);
    await conforms("post", W, 409, await as("/webhooks", { method: "POST", json: { url: receiver, events: ["run.failed"] } }));
    await conforms("delete", `${W}/{webhook_id}`, 204, await as(`/webhooks/${hook.webhook_id}`, { method: "DELETE" }));
    await conforms("delete", `${W}/{webhook_id}`, 404, await as(`/webhooks/${hook.webhook_id}`, { method: "DELETE" }));
  });

  it("MCP servers: registered, listed, read, refreshed, deleted, refused", async () => {
    const S = "/api/v1/mcp-servers";
    const name = `conf-${crypto.randomUUID().slice(0, 8)}`;
    const url = `${env.MCP_TEST_URL}/s/${name}/mcp`;
    await conforms("post", S, 201, await call("/mcp-servers", { method: "POST", json: { name, url } }));
    await conforms("post", S, 409, await call("/mcp-servers", { method: "POST", json: { name, url } }));
    await conforms("post", S, 400, await call("/mcp-servers", { method: "POST", json: { name: "Bad", url } }));
    await conforms("post", S, 400, await call("/mcp-servers", { method: "POST", json: { name: "meta", url: "http://169.254.169.254/mcp" } }));
    await conforms("post", S, 502, await call("/mcp-servers", { method: "POST", json: { name: "nothing", url: "http://127.0.0.1:1/mcp" } }));
    await conforms(
      "post",
      S,
      415,
      await call("/mcp-servers", { method: "POST", body: "name=x", headers: { "content-type": "application/x-www-form-urlencoded" } }),
    );
    await conforms("post", S, 413, await call("/mcp-servers", { method: "POST", json: { name, url, headers: { a: "x".repeat(70_000) } } }));
    const keyless = await app.fetch(
      new Request(`http://crane.test${S}`, {
        method: "POST",
        headers: { authorization: "Bearer crane_dev_key", "content-type": "application/json" },
        body: JSON.stringify({ name: "sealed", url, headers: { authorization: "Bearer x" } }),
      }),
      { ...env, MCP_HEADER_KEY: "" } as Env,
    );
    await conforms("post", S, 503, keyless);
    await conforms("post", S, 401, await call("/mcp-servers", { method: "POST", json: { name, url }, key: null }));
    await conforms("get", S, 200, await call("/mcp-servers"));
    await conforms("get", `${S}/{name}`, 200, await call(`/mcp-servers/${name}`));
    await conforms("get", `${S}/{name}`, 404, await call("/mcp-servers/nope"));
    await conforms("post", `${S}/{name}/refresh`, 200, await call(`/mcp-servers/${name}/refresh`, { method: "POST" }));
    await conforms("post", `${S}/{name}/refresh`, 404, await call("/mcp-servers/nope/refresh", { method: "POST" }));
    await fetch(`${env.MCP_TEST_URL}/control/${name}/down`, { method: "POST" });
    await conforms("post", `${S}/{name}/refresh`, 502, await call(`/mcp-servers/${name}/refresh`, { method: "POST" }));
    await conforms("get", "/api/v1/tools", 200, await call("/tools")); // with the server's tools in it
    await conforms("delete", `${S}/{name}`, 204, await call(`/mcp-servers/${name}`, { method: "DELETE" }));
    await conforms("delete", `${S}/{name}`, 404, await call(`/mcp-servers/${name}`, { method: "DELETE" }));
  });

  it("the admin API and metrics", async () => {
    const K = "/api/v1/admin/keys";
    const made = (await conforms("post", K, 201, await admin("/admin/keys", { method: "POST", json: { name: "conformance", tenant: "conformance" } }))) as {
      key: { id: string };
    };
    await conforms("post", K, 400, await admin("/admin/keys", { method: "POST", json: { name: "", tenant: "Bad Tenant" } }));
    await conforms(
      "post",
      K,
      415,
      await admin("/admin/keys", { method: "POST", body: "name=x", headers: { "content-type": "application/x-www-form-urlencoded" } }),
    );
    await conforms("post", K, 401, await api("/admin/keys", { method: "POST", json: { name: "x", tenant: "x" }, key: "crane_dev_key" }));
    const off = await app.fetch(new Request("http://crane.test/api/v1/admin/keys"), { ...env, ADMIN_TOKEN: "" } as Env);
    await conforms("get", K, 503, off);
    await conforms("get", K, 200, await admin("/admin/keys?tenant=conformance"));
    await conforms("get", K, 400, await admin("/admin/keys?limit=0"));
    await conforms("delete", `${K}/{key_id}`, 200, await admin(`/admin/keys/${made.key.id}`, { method: "DELETE" }));
    await conforms("delete", `${K}/{key_id}`, 404, await admin("/admin/keys/not-a-key", { method: "DELETE" }));
    const R = "/api/v1/admin/tenants/{tenant}/retention";
    await conforms("get", R, 200, await admin("/admin/tenants/conformance/retention"));
    await conforms("put", R, 200, await admin("/admin/tenants/conformance/retention", { method: "PUT", json: { days: 14 } }));
    await conforms("put", R, 400, await admin("/admin/tenants/conformance/retention", { method: "PUT", json: { days: 0 } }));
    await conforms("get", R, 400, await admin("/admin/tenants/Bad%20Tenant/retention"));
    const AR = "/api/v1/admin/runs";
    await conforms("get", AR, 200, await admin("/admin/runs?limit=2"));
    await conforms("get", AR, 200, await admin("/admin/runs?tenant=dev&status=completed"));
    await conforms("get", AR, 400, await admin("/admin/runs?cursor=not-a-cursor"));
    await conforms("get", AR, 401, await api("/admin/runs"));
    const B = "/api/v1/admin/tenants/{tenant}/llm-budget";
    await conforms("put", B, 200, await admin("/admin/tenants/conformance/llm-budget", { method: "PUT", json: { usd_per_day: 5 } }));
    await conforms("get", B, 200, await admin("/admin/tenants/conformance/llm-budget"));
    await conforms("put", B, 400, await admin("/admin/tenants/conformance/llm-budget", { method: "PUT", json: { usd_per_day: -1 } }));
    await conforms("get", B, 400, await admin("/admin/tenants/Bad%20Tenant/llm-budget"));
    await conforms("delete", R, 200, await admin("/admin/tenants/conformance/retention", { method: "DELETE" }));

    const metrics = (path: string, token?: string) =>
      app.fetch(new Request(`http://crane.test${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} }), env);
    await conforms("get", "/metrics", 200, await metrics("/metrics", ADMIN_TOKEN));
    await conforms("get", "/metrics", 401, await metrics("/metrics", "wrong"));
  });
});
