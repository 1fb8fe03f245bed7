import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, errorOf } from "./helpers";
import { forgetHealth } from "../src/api/health";
import { countOnEveryShard } from "./read-model";

const runCount = () => countOnEveryShard("SELECT count(*) AS n FROM runs");

describe("bad input gets a 4xx with the error shape, and creates nothing", () => {
  const cases: [string, RequestInit & { json?: unknown }, number, string][] = [
    ["malformed JSON", { method: "POST", body: "{ nope", headers: { "content-type": "application/json" } }, 400, "invalid_json"],
    ["no content type", { method: "POST", body: JSON.stringify({ prompt: "calculate 1+1" }) }, 415, "unsupported_media_type"],
    ["wrong type", { method: "POST", json: { prompt: 42 } }, 400, "validation_failed"],
    ["unknown field", { method: "POST", json: { prompt: "calculate 1+1", extra: true } }, 400, "validation_failed"],
    ["neither prompt nor plan", { method: "POST", json: {} }, 400, "validation_failed"],
    ["both prompt and plan", { method: "POST", json: { prompt: "x", plan: { steps: [] } } }, 400, "validation_failed"],
    ["empty prompt", { method: "POST", json: { prompt: "" } }, 400, "empty_prompt"],
    ["whitespace prompt", { method: "POST", json: { prompt: "   \n\t " } }, 400, "empty_prompt"],
    ["over-long prompt", { method: "POST", json: { prompt: "calculate 1+1 ".repeat(300) } }, 400, "prompt_too_long"],
    ["unplannable prompt", { method: "POST", json: { prompt: "what is the meaning of life" } }, 400, "unplannable_prompt"],
    ["oversized body", { method: "POST", json: { prompt: "x".repeat(70 * 1024) } }, 413, "payload_too_large"],
    ["JSON array body", { method: "POST", json: [1, 2] }, 400, "validation_failed"],
    ["bad options", { method: "POST", json: { prompt: "calculate 1+1", options: { retry: { max_attempts: 0 } } } }, 400, "validation_failed"],
    ["unknown option", { method: "POST", json: { prompt: "calculate 1+1", options: { turbo: true } } }, 400, "validation_failed"],
    [
      "__proto__ key",
      { method: "POST", body: '{"prompt":"calculate 1+1","__proto__":{"polluted":true}}', headers: { "content-type": "application/json" } },
      400,
      "validation_failed",
    ],
    ["invalid plan", { method: "POST", json: { plan: { steps: [{ step_number: 1, tool: "Nope.nothing", input: {} }] } } }, 400, "invalid_plan"],
    [
      "bad idempotency key",
      { method: "POST", json: { prompt: "calculate 1+1" }, headers: { "idempotency-key": "has spaces in it" } },
      400,
      "invalid_idempotency_key",
    ],
  ];
  for (const [name, init, status, code] of cases) {
    it(`POST /runs with ${name}: ${status} ${code}`, async () => {
      const before = await runCount();
      const res = await api("/runs", init);
      expect(res.status).toBe(status);
      expect((await errorOf(res)).code).toBe(code);
      expect(await runCount()).toBe(before);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });
  }

  it("names the field at fault, or says to give a prompt or a plan", async () => {
    const detailsOf = async (json: unknown) => (await errorOf(await api("/runs", { method: "POST", json }))).details as { path: unknown[]; message: string }[];
    expect(await detailsOf({ prompt: 42 })).toEqual([expect.objectContaining({ path: ["prompt"], code: "invalid_type" })]);
    expect(await detailsOf({ prompt: "calculate 1+1", options: { retry: { max_attempts: 0 } } })).toEqual([
      expect.objectContaining({ path: ["options", "retry", "max_attempts"] }),
    ]);
    for (const json of [{}, { prompt: "x", plan: { steps: [{ step_number: 1, tool: "Calculator.evaluate", input: {} }] } }])
      expect((await detailsOf(json))[0]!.message).toBe('Give exactly one of "prompt", "plan" or "agent".');
    expect(await detailsOf([1, 2])).toEqual([expect.objectContaining({ path: [], code: "invalid_type" })]);
  });

  it("an invalid plan names each problem with its step", async () => {
    const res = await api("/runs", {
      method: "POST",
      json: {
        plan: {
          steps: [
            { step_number: 1, tool: "Calculator.evaluate", input: { expression: 5 } },
            { step_number: 2, tool: "TodoStore.add", input: { title: "{{steps.1.output}}" } },
          ],
        },
      },
    });
    expect(res.status).toBe(400);
    const err = await errorOf(res);
    const details = err.details as { step_number: number; code: string }[];
    expect(details).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ step_number: 1, code: "invalid_input" }),
        expect.objectContaining({ step_number: 2, code: "reference_without_dependency" }),
      ]),
    );
  });

  it("unknown run ids answer 404, well-formed or not", async () => {
    for (const id of ["run_00000000000000000000000000000000", "nope", "run_../../x"]) {
      const res = await api(`/runs/${encodeURIComponent(id)}`);
      expect(res.status).toBe(404);
      expect((await errorOf(res)).code).toBe("run_not_found");
    }
    for (const path of ["/events", "/cancel", "/resume"]) {
      const res = await api(`/runs/run_00000000000000000000000000000000${path}`, { method: path === "/events" ? "GET" : "POST" });
      expect(res.status).toBe(404);
    }
  });

  it("unknown routes and methods answer in the error shape", async () => {
    const res = await api("/nothing-here");
    expect(res.status).toBe(404);
    expect((await errorOf(res)).code).toBe("not_found");
  });

  it("a wrong method on a known path answers 405 with Allow, not 404", async () => {
    const tools = await api("/tools", { method: "DELETE" });
    expect(tools.status).toBe(405);
    expect(tools.headers.get("allow")).toBe("GET, HEAD");
    expect(await errorOf(tools)).toMatchObject({ code: "method_not_allowed", details: { allow: ["GET", "HEAD"] } });
    // A path with a parameter: the run's own path is GET only; /cancel is POST only.
    const run = await api("/runs/run_00000000000000000000000000000000", { method: "PATCH" });
    expect([run.status, run.headers.get("allow")]).toEqual([405, "GET, HEAD"]);
    const cancel = await api("/runs/run_00000000000000000000000000000000/cancel", { method: "GET" });
    expect([cancel.status, cancel.headers.get("allow")]).toEqual([405, "POST"]);
    // /runs takes both.
    expect((await api("/runs", { method: "PUT" })).headers.get("allow")).toBe("GET, HEAD, POST");
    // The console page, outside the API, too.
    const page = await exports.default.fetch(new Request("http://crane.test/", { method: "POST" }));
    expect([page.status, page.headers.get("allow")]).toEqual([405, "GET, HEAD"]);
  });

  it("GET /runs rejects bad parameters", async () => {
    for (const q of ["status=bogus", "limit=0", "limit=1000", "limit=abc", "cursor=%%%", "cursor=bm9wZQ", "created_after=yesterday", "sort=asc"]) {
      const res = await api(`/runs?${q}`);
      expect(res.status, q).toBe(400);
      await errorOf(res);
    }
  });

  it("GET /runs/{id}/events rejects bad parameters", async () => {
    const res = await api(`/runs/run_00000000000000000000000000000000/events?after=-1`);
    expect(res.status).toBe(400);
  });

  it("POST /plans validates its body the same way", async () => {
    expect((await api("/plans", { method: "POST", json: { prompt: "" } })).status).toBe(400);
    expect((await api("/plans", { method: "POST", json: { prompt: "calculate 1+1", x: 1 } })).status).toBe(400);
    expect((await api("/plans", { method: "POST", body: "[", headers: { "content-type": "application/json" } })).status).toBe(400);
  });
});

describe("read-only endpoints", () => {
  it("GET /tools lists every tool with a JSON Schema", async () => {
    const res = await api("/tools");
    expect(res.status).toBe(200);
    const { tools } = (await res.json()) as { tools: { name: string; description: string; input_schema: { type: string; properties: object } }[] };
    expect(tools.map((t) => t.name).sort()).toEqual(
      [
        "Agent.run",
        "Calculator.evaluate",
        "Http.get",
        "Human.approve",
        "Run.collect",
        "Run.start",
        "TodoStore.add",
        "TodoStore.complete",
        "TodoStore.delete",
        "TodoStore.get",
        "TodoStore.list",
        "TodoStore.reopen",
        "Wait.signal",
        "Wait.sleep",
      ].sort(),
    );
    const calc = tools.find((t) => t.name === "Calculator.evaluate")!;
    expect(calc.input_schema.type).toBe("object");
    expect(calc.input_schema.properties).toHaveProperty("expression");
  });

  it("POST /plans returns the plan without running it", async () => {
    const before = await runCount();
    const res = await api("/plans", { method: "POST", json: { prompt: "calculate 2 + 3 and calculate 4 * 5, then list my todos" } });
    expect(res.status).toBe(200);
    const plan = (await res.json()) as { planner: string; fallback_reason?: string; steps: { depends_on: number[] }[] };
    expect(plan.planner).toBe("rules");
    expect(plan.fallback_reason).toBe("not_configured"); // no model configured: the local default
    expect(plan.steps.map((s) => s.depends_on)).toEqual([[], [], [1, 2]]);
    expect(await runCount()).toBe(before);
  });

  it("GET /health checks D1, the run objects and the queue", async () => {
    const res = await api("/health");
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: "ok", version: expect.any(String), checks: { d1: "ok", durable_objects: "ok", queue: "ok" } });
  });

  it("GET /health answers 503 when D1 fails", async () => {
    await env.DB.exec("ALTER TABLE runs RENAME TO runs_away");
    forgetHealth(); // answers are cached for a few seconds (test/health.test.ts)
    try {
      const res = await api("/health");
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ status: "degraded", checks: { d1: "failing" } });
    } finally {
      await env.DB.exec("ALTER TABLE runs_away RENAME TO runs");
      forgetHealth();
    }
  });
});
