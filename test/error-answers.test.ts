// Failures that used to escape as 500s: the platform's own errors (an overloaded Durable Object,
// an RPC message over its size limit), a schedule trigger whose start throws, and a malformed
// MCP_HEADER_KEY. Each must answer 4xx or 503 in the one error shape; fast-check looks for any
// that does not.
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { app } from "../src/app";
import { onError } from "../src/api/errors";
import type { ScheduleResource } from "../src/durable/schedule/schedule-resource";
import { api, DEV_KEY, errorOf, uniq } from "./helpers";

/** A route that throws `err`, answered by the API's one error handler. */
async function answerTo(err: unknown): Promise<Response> {
  const probe = new Hono();
  probe.get("/x", () => {
    throw err;
  });
  probe.onError(onError);
  return probe.request("/x");
}

describe("the platform's errors", () => {
  it("answers a Durable Object overload with 503 and Retry-After, in the error shape", async () => {
    // The shape workerd gives an overloaded object's error: a message and `overloaded`/`retryable` properties.
    const overloaded = Object.assign(new Error("Durable Object is overloaded. Too many requests queued."), { overloaded: true, retryable: false });
    const res = await answerTo(overloaded);
    expect(res.status).toBe(503);
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect((await errorOf(res)).code).toBe("overloaded");
  });

  it("answers an RPC message over workerd's size limit with 422, not 500", async () => {
    let rpcError: unknown;
    try {
      // A real RPC to a real object, with an argument over the 32 MiB limit: workerd refuses it.
      await (env.RUNS.getByName(`big-${uniq()}`) as unknown as { status(x: string): Promise<unknown> }).status("x".repeat(33 * 1024 * 1024));
    } catch (err) {
      rpcError = err;
    }
    expect(rpcError).toBeInstanceOf(Error);
    const res = await answerTo(rpcError);
    expect(res.status).toBe(422);
    expect((await errorOf(res)).code).toBe("answer_too_large");
  });

  it("never answers 500 for an error the platform marks overloaded or retryable (fuzzed)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.string(), fc.boolean(), fc.boolean(), async (message, overloaded, retryable) => {
        fc.pre(overloaded || retryable);
        const res = await answerTo(Object.assign(new Error(message), { overloaded, retryable }));
        expect(res.status).toBe(503);
        expect(Number(res.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
        await errorOf(res);
      }),
      { numRuns: 50 },
    );
  });
});

describe("POST /schedules/{id}/trigger when the start throws", () => {
  it("answers 503 with Retry-After and records the occurrence as not started", async () => {
    const plan = { steps: [{ step_number: 1, tool: "Calculator.evaluate", input: { expression: "2 + 2" } }] };
    const created = await api("/schedules", { method: "POST", json: { cron: "0 0 1 1 *", name: `trigger ${uniq()}`, plan, paused: true } });
    expect(created.status).toBe(201);
    const { schedule_id } = (await created.json()) as ScheduleResource;
    // A real fault: the table the start reads (the tenant's retention) is not there.
    await env.DB.exec("ALTER TABLE tenant_settings RENAME TO tenant_settings_away");
    let res: Response;
    try {
      res = await api(`/schedules/${schedule_id}/trigger`, { method: "POST" });
    } finally {
      await env.DB.exec("ALTER TABLE tenant_settings_away RENAME TO tenant_settings");
    }
    expect(res.status).toBe(503);
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect((await errorOf(res)).code).toBe("run_not_started");
    const schedule = (await (await api(`/schedules/${schedule_id}`)).json()) as ScheduleResource;
    expect(schedule.recent_runs[0]).toMatchObject({ manual: true, status: "not_started" });
    // Once the fault is gone, the same trigger starts the run.
    expect((await api(`/schedules/${schedule_id}/trigger`, { method: "POST" })).status).toBe(201);
    await api(`/schedules/${schedule_id}`, { method: "DELETE" });
  });
});

describe("a malformed MCP_HEADER_KEY", () => {
  const VALID_LENGTH = 32;
  /** Anything that is not 32 bytes of base64: wrong alphabet, wrong length, padding in the middle. */
  const badKey = fc
    .oneof(
      fc.string({ minLength: 1 }),
      fc.uint8Array({ minLength: 1, maxLength: 64 }).map((b) => btoa(String.fromCharCode(...b))),
      fc.constantFrom("not base64!", "====", "ab=cd", "é".repeat(44), "dGVzdA==dGVzdA=="),
    )
    .filter((k) => {
      try {
        return k.trim() !== "" && atob(k.trim()).length !== VALID_LENGTH;
      } catch {
        return true;
      }
    });

  it("answers 503 mcp_headers_unavailable, never 500, when a server is registered with headers (fuzzed)", async () => {
    await fc.assert(
      fc.asyncProperty(badKey, async (key) => {
        const name = `k-${uniq()}`;
        const req = new Request("http://crane.test/api/v1/mcp-servers", {
          method: "POST",
          headers: { authorization: `Bearer ${DEV_KEY}`, "content-type": "application/json" },
          body: JSON.stringify({ name, url: `${env.MCP_TEST_URL}/s/${name}/mcp`, headers: { authorization: "Bearer x" } }),
        });
        const res = await app.fetch(req, { ...env, MCP_HEADER_KEY: key });
        expect(res.status, key).toBe(503);
        expect((await errorOf(res)).code).toBe("mcp_headers_unavailable");
      }),
      { numRuns: 40 },
    );
  });
});
