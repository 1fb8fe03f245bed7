import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, inject, it, vi } from "vitest";
import { app, openApiDocument } from "../src/app";
import { hashSecret } from "../src/auth/api-keys";
import type { RunResource } from "../src/durable/run/run-view";
import { ADMIN_TOKEN, api, createRun, errorOf, newApiKey, SETTLE, waitForRun } from "./helpers";
import { countOnEveryShard } from "./read-model";

const upstream = inject("upstreamUrl");

/** Every route, called with the credentials under test: API keys, tenants, admin token. */

const admin = (path: string, init: RequestInit & { json?: unknown } = {}) => api(path, { ...init, key: ADMIN_TOKEN });

const newKey = newApiKey;

const tenantName = () => `t-${crypto.randomUUID().slice(0, 8)}`;

/** A concrete request for each documented route, with path parameters filled in. */
function concrete(path: string, runId: string): string {
  return path
    .replace("{run_id}", runId)
    .replace("{tool}", "Http.get")
    .replace("{key_id}", "key_00000000000000000000")
    .replace("{step}", "1")
    .replace("{name}", "go")
    .replace("{tenant}", "acme");
}

/** Every documented operation with who may call it: the document says it, and these tests hold the router to it. */
const documented = Object.entries(openApiDocument().paths ?? {}).flatMap(([path, item]) =>
  (["get", "post", "put", "delete"] as const).flatMap((method) => (item[method] ? [{ method, path, security: item[method].security ?? [] }] : [])),
);
const apiKeyRoutes = documented.filter((r) => r.security.some((s) => "apiKey" in s));
/** A body each POST route accepts, so a refusal is about who asks, not what they sent. */
const bodyFor = (url: string): unknown =>
  url.endsWith("/decision")
    ? { decision: "approve" }
    : url.endsWith("/retention")
      ? { days: 7 }
      : url.includes("/signals/")
        ? { payload: 1 }
        : url.endsWith("/cancel")
          ? { compensate: true }
          : url.endsWith("/rerun")
            ? { from_step: 1 }
            : { prompt: "calculate 1 + 1" };
const requestFor = (method: string, url: string, headers: Record<string, string> = {}) =>
  new Request(url, {
    method: method.toUpperCase(),
    headers: { "content-type": "application/json", ...headers },
    body: method === "post" || method === "put" ? JSON.stringify(bodyFor(url)) : undefined,
  });

async function runCount(): Promise<number> {
  return countOnEveryShard("SELECT count(*) AS n FROM runs");
}

describe("API keys", () => {
  it("every /api/v1 route but the public ones answers 401 without a key, and changes nothing", async () => {
    const run = await createRun({ prompt: "calculate 2 + 2" });
    await waitForRun(run.run_id);
    const before = await runCount();
    expect(apiKeyRoutes.length).toBeGreaterThanOrEqual(14);
    for (const r of apiKeyRoutes) {
      const res = await app.fetch(requestFor(r.method, `http://crane.test${concrete(r.path, run.run_id)}`), env);
      expect(res.status, `${r.method} ${r.path}`).toBe(401);
      expect(res.headers.get("www-authenticate")).toMatch(/^Bearer/);
      expect((await errorOf(res)).code).toBe("missing_api_key");
    }
    // The console's layout service needs a key too; the page and /docs do not.
    expect((await app.fetch(requestFor("post", "http://crane.test/console/layout"), env)).status).toBe(401);
    // The public ones: health and the API description.
    expect((await app.fetch(new Request("http://crane.test/api/v1/health"), env)).status).toBe(200);
    expect((await app.fetch(new Request("http://crane.test/api/v1/openapi.json"), env)).status).toBe(200);
    // An unknown path needs a key before it is a 404, as the API's routes do.
    expect((await errorOf(await app.fetch(new Request("http://crane.test/api/v1/nothing-here"), env))).code).toBe("missing_api_key");
    expect(await runCount()).toBe(before);
    expect((await api(`/runs/${run.run_id}`)).status).toBe(200);
    expect(((await (await api(`/runs/${run.run_id}`)).json()) as RunResource).status).toBe("completed");
  });

  it("rejects unknown keys, malformed Authorization headers and keys from DEV_API_KEY when it is unset", async () => {
    for (const authorization of ["Bearer crane_nope", "Basic Y3JhbmU6ZGV2", "Bearer", "crane_dev_key", `Bearer ${"x".repeat(600)}`]) {
      const res = await api("/tools", { headers: { authorization } });
      expect(res.status, authorization).toBe(401);
      expect(["invalid_api_key", "invalid_authorization"]).toContain((await errorOf(res)).code);
    }
    const withoutDevKey = { ...env, DEV_API_KEY: "" } as Env;
    const res = await app.fetch(new Request("http://crane.test/api/v1/tools", { headers: { authorization: "Bearer crane_dev_key" } }), withoutDevKey);
    expect(res.status).toBe(401);
    expect((await errorOf(res)).code).toBe("invalid_api_key");
  });

  it("a new key works at once, is stored only as its SHA-256, and stops working when revoked", async () => {
    const tenant = tenantName();
    const key = await newKey(tenant, "revoke me");
    expect(key.secret).toMatch(/^crane_[A-Za-z0-9_-]{43}$/);
    const mine = await api("/runs", { method: "POST", json: { prompt: "calculate 6 * 7" }, key: key.secret });
    expect(mine.status).toBe(201);
    const run = (await mine.json()) as RunResource;
    expect(run.tenant).toBe(tenant);

    const row = await env.DB.prepare("SELECT * FROM api_keys WHERE id = ?").bind(key.id).first<Record<string, unknown>>();
    expect(row!.hash).toBe(await hashSecret(key.secret));
    expect(Object.values(row!)).not.toContain(key.secret);

    const listed = (await (await admin(`/admin/keys?tenant=${tenant}`)).json()) as { keys: Record<string, unknown>[] };
    expect(listed.keys).toHaveLength(1);
    expect(listed.keys[0]).toMatchObject({ id: key.id, name: "revoke me", tenant, revoked_at: null, prefix: key.secret.slice(0, 12) });
    expect(JSON.stringify(listed)).not.toContain(key.secret);
    expect(listed.keys[0]).not.toHaveProperty("hash");

    const revoked = await admin(`/admin/keys/${key.id}`, { method: "DELETE" });
    expect(revoked.status).toBe(200);
    const revokedAt = ((await revoked.json()) as { key: { revoked_at: string } }).key.revoked_at;
    expect(revokedAt).not.toBeNull();
    // Idempotent: revoking again keeps the first time.
    expect(((await (await admin(`/admin/keys/${key.id}`, { method: "DELETE" })).json()) as { key: { revoked_at: string } }).key.revoked_at).toBe(revokedAt);

    for (const r of apiKeyRoutes) {
      const res = await app.fetch(requestFor(r.method, `http://crane.test${concrete(r.path, run.run_id)}`, { authorization: `Bearer ${key.secret}` }), env);
      expect(res.status, `${r.method} ${r.path}`).toBe(401);
      expect((await errorOf(res)).code).toBe("api_key_revoked");
    }
    expect(((await (await admin(`/admin/keys?tenant=${tenant}`)).json()) as { keys: unknown[] }).keys).toHaveLength(0);
    expect(((await (await admin(`/admin/keys?tenant=${tenant}&include_revoked=true`)).json()) as { keys: unknown[] }).keys).toHaveLength(1);
  });
});

describe("the routes' credentials are the ones the document declares", () => {
  it("public routes answer without any, admin routes need the admin token, metrics its token", async () => {
    const publicRoutes = documented.filter((r) => r.security.length === 0);
    expect(publicRoutes.map((r) => `${r.method} ${r.path}`).sort()).toEqual([
      "get /api/v1/health",
      "get /api/v1/openapi.json",
      "get /decide/{run_id}/{token}",
      "post /decide/{run_id}/{token}",
    ]);
    for (const r of publicRoutes.filter((p) => !p.path.includes("{"))) {
      expect((await app.fetch(new Request(`http://crane.test${r.path}`), env)).status, r.path).toBe(200);
    }
    // A decision link's token is its credential: without a valid one its page is not found.
    const link = `http://crane.test/decide/run_${"0".repeat(32)}/dl_${"0".repeat(48)}`;
    for (const method of ["GET", "POST"]) expect((await app.fetch(new Request(link, { method }), env)).status).toBe(404);
    const adminRoutes = documented.filter((r) => r.security.some((s) => "adminToken" in s));
    expect(adminRoutes.length).toBe(9);
    for (const r of adminRoutes) {
      const res = await app.fetch(requestFor(r.method, `http://crane.test${concrete(r.path, "")}`, { authorization: "Bearer crane_dev_key" }), env);
      expect(res.status, `${r.method} ${r.path}`).toBe(401);
      expect((await errorOf(res)).code).toBe("invalid_admin_token");
    }
    const metrics = documented.filter((r) => r.security.some((s) => "metricsToken" in s));
    expect(metrics.map((r) => r.path)).toEqual(["/metrics"]);
    expect((await app.fetch(new Request("http://crane.test/metrics", { headers: { authorization: "Bearer crane_dev_key" } }), env)).status).toBe(401);
    // Every documented route is in one of these groups.
    expect(documented.length).toBe(apiKeyRoutes.length + publicRoutes.length + adminRoutes.length + metrics.length);
  });
});

describe("the admin API", () => {
  it("needs ADMIN_TOKEN, and is off (503) without one", async () => {
    for (const key of [null, "crane_dev_key", "test_admin_tokeN", `${ADMIN_TOKEN}x`]) {
      const res = await api("/admin/keys", { method: "POST", json: { name: "x", tenant: "x" }, key });
      expect(res.status).toBe(401);
      expect((await errorOf(res)).code).toBe("invalid_admin_token");
    }
    const off = await app.fetch(new Request("http://crane.test/api/v1/admin/keys", { headers: { authorization: "Bearer " } }), {
      ...env,
      ADMIN_TOKEN: "",
    } as Env);
    expect(off.status).toBe(503);
    expect((await errorOf(off)).code).toBe("admin_disabled");
  });

  it("validates what it is given", async () => {
    const before = (await env.DB.prepare("SELECT count(*) AS n FROM api_keys").first<{ n: number }>())!.n;
    for (const json of [
      {},
      { name: "x" },
      { name: "", tenant: "a" },
      { name: "x", tenant: "Bad Tenant" },
      { name: "x", tenant: "a", admin: true },
      { name: "x", tenant: "../etc" },
    ]) {
      const res = await admin("/admin/keys", { method: "POST", json });
      expect(res.status, JSON.stringify(json)).toBe(400);
    }
    expect((await env.DB.prepare("SELECT count(*) AS n FROM api_keys").first<{ n: number }>())!.n).toBe(before);
    expect((await admin("/admin/keys/key_00000000000000000000", { method: "DELETE" })).status).toBe(404);
    expect((await admin("/admin/keys/not-a-key", { method: "DELETE" })).status).toBe(404);
    expect((await admin("/admin/keys?limit=0")).status).toBe(400);
  });

  it("answers an unknown admin path 404 to the admin, never passing it on to the API-key check", async () => {
    for (const [path, method, status, code] of [
      ["/admin/nothing", "GET", 404, "not_found"],
      ["/admin", "GET", 404, "not_found"],
      // A known path with the wrong method: 405 with the methods that work.
      ["/admin/keys", "PUT", 405, "method_not_allowed"],
    ] as const) {
      const res = await admin(path, { method });
      expect(res.status, `${method} ${path}`).toBe(status);
      expect((await errorOf(res)).code).toBe(code);
      if (status === 405) expect(res.headers.get("allow")).toBe("GET, HEAD, POST");
      expect((await api(path, { method, key: null })).status, `${method} ${path} without a token`).toBe(401);
    }
  });
});

describe("tenant isolation", () => {
  it("another tenant's run answers exactly as a missing one does, on every run route", async () => {
    const a = await newKey(tenantName());
    const b = await newKey(tenantName());
    const created = await api("/runs", { method: "POST", json: { prompt: "wait 30 seconds then calculate 1 + 1" }, key: a.secret });
    expect(created.status).toBe(201);
    const run = (await created.json()) as RunResource;
    const missing = `run_${"0".repeat(32)}`;

    const runRoutes = apiKeyRoutes.filter((r) => r.path.includes("{run_id}"));
    expect(runRoutes.length).toBeGreaterThanOrEqual(8);
    for (const r of runRoutes) {
      const as = (id: string) =>
        app.fetch(
          requestFor(r.method, `http://crane.test${concrete(r.path, id)}`, {
            authorization: `Bearer ${b.secret}`,
            upgrade: r.path.endsWith("/ws") ? "websocket" : "",
          }),
          env,
        );
      const theirs = await as(run.run_id);
      const nobody = await as(missing);
      expect(theirs.status, `${r.method} ${r.path}`).toBe(404);
      expect(nobody.status).toBe(404);
      const [e1, e2] = [await errorOf(theirs), await errorOf(nobody)];
      expect(e1.code).toBe(e2.code);
      expect(e1.message.replace(run.run_id, "ID")).toBe(e2.message.replace(missing, "ID"));
    }
    // B's cancel did nothing: A's run is still running, and A can still see and cancel it.
    const still = (await (await api(`/runs/${run.run_id}`, { key: a.secret })).json()) as RunResource;
    expect(still.status).toBe("running");
    expect((await api(`/runs/${run.run_id}/cancel`, { method: "POST", key: a.secret })).status).toBe(200);
  });

  it("lists only the caller's runs, and keeps Idempotency-Keys per tenant", async () => {
    const a = await newKey(tenantName());
    const b = await newKey(tenantName());
    const idem = `shared-${crypto.randomUUID()}`;
    const ra = await api("/runs", { method: "POST", json: { prompt: "calculate 1 + 2" }, key: a.secret, headers: { "idempotency-key": idem } });
    const rb = await api("/runs", { method: "POST", json: { prompt: "calculate 3 + 4" }, key: b.secret, headers: { "idempotency-key": idem } });
    expect(ra.status).toBe(201);
    expect(rb.status).toBe(201); // not a 409 conflict with A's body, and not A's run
    const [runA, runB] = [(await ra.json()) as RunResource, (await rb.json()) as RunResource];
    expect(runB.run_id).not.toBe(runA.run_id);
    await waitForRun(runA.run_id, undefined, undefined, a.secret);
    await waitForRun(runB.run_id, undefined, undefined, b.secret);
    // The D1 projection lands just after the run ends.
    await vi.waitFor(async () => {
      const projected = await countOnEveryShard("SELECT count(*) AS n FROM runs WHERE run_id IN (?, ?) AND status = 'completed'", runA.run_id, runB.run_id);
      expect(projected).toBe(2);
    }, SETTLE);
    const listA = (await (await api("/runs?limit=100", { key: a.secret })).json()) as { runs: { run_id: string }[] };
    const listB = (await (await api("/runs?limit=100", { key: b.secret })).json()) as { runs: { run_id: string }[] };
    expect(listA.runs.map((r) => r.run_id)).toEqual([runA.run_id]);
    expect(listB.runs.map((r) => r.run_id)).toEqual([runB.run_id]);
    const dev = (await (await api("/runs?limit=100")).json()) as { runs: { run_id: string }[] };
    expect(dev.runs.map((r) => r.run_id)).not.toContain(runA.run_id);
  });

  it("keeps each tenant's todos apart when runs add and list them", async () => {
    const a = await newKey(tenantName());
    const b = await newKey(tenantName());
    const title = `secret plan ${crypto.randomUUID().slice(0, 6)}`;
    const added = (await (
      await api("/runs", { method: "POST", json: { prompt: `add a todo "${title}", then show me all my tasks` }, key: a.secret })
    ).json()) as RunResource;
    const doneA = await waitForRun(added.run_id, undefined, undefined, a.secret);
    expect(JSON.stringify(doneA.result)).toContain(title);
    const listB = (await (await api("/runs", { method: "POST", json: { prompt: "show me all my tasks" }, key: b.secret })).json()) as RunResource;
    const doneB = await waitForRun(listB.run_id, undefined, undefined, b.secret);
    expect(doneB.status).toBe("completed");
    expect(JSON.stringify(doneB.result)).not.toContain(title);
    expect(doneB.result).toMatchObject({ count: 0 });
    // B cannot complete A's todo by its title either.
    const complete = (await (
      await api("/runs", { method: "POST", json: { plan: { steps: [{ step_number: 1, tool: "TodoStore.complete", input: { title } }] } }, key: b.secret })
    ).json()) as RunResource;
    const failed = await waitForRun(complete.run_id, undefined, undefined, b.secret);
    expect(failed.execution_log[0]!.error?.code).toBe("todo_not_found");
  });

  it("gives each tenant its own breakers: a reset touches only the caller's", async () => {
    const a = await newKey(tenantName());
    const b = await newKey(tenantName());
    // A failing call is recorded at once (successes are only counted until the next breaker request).
    const body = { prompt: `fetch ${upstream}/status/503`, options: { retry: { max_attempts: 1 } } };
    const run = (await (await api("/runs", { method: "POST", json: body, key: a.secret })).json()) as RunResource;
    await waitForRun(run.run_id, undefined, undefined, a.secret);
    const http = async (key: string) =>
      ((await (await api("/breakers", { key })).json()) as { breakers: { tool: string; requests: number; window_calls: number }[] }).breakers.find(
        (x) => x.tool === "Http.get",
      )!;
    const aBefore = await http(a.secret);
    expect(aBefore.window_calls).toBeGreaterThanOrEqual(1);
    expect((await http(b.secret)).window_calls).toBe(0);
    expect((await api("/breakers/Http.get/reset", { method: "POST", key: b.secret })).status).toBe(200);
    expect((await http(a.secret)).window_calls).toBe(aBefore.window_calls);
  });
});

describe("watching a run from a browser", () => {
  it("trades the API key for a watch token that opens the WebSocket until it expires", async () => {
    const run = await createRun({ prompt: "calculate 5 * 5" });
    await waitForRun(run.run_id);
    const issued = await api(`/runs/${run.run_id}/watch-token`, { method: "POST" });
    expect(issued.status).toBe(201);
    expect(issued.headers.get("cache-control")).toBe("no-store");
    const { token, websocket, expires_at } = (await issued.json()) as { token: string; websocket: string; expires_at: string };
    expect(websocket).toBe(`/api/v1/runs/${run.run_id}/ws?token=${token}`);
    expect(Date.parse(expires_at) - Date.now()).toBeLessThanOrEqual(10 * 60_000);
    expect(Date.parse(expires_at) - Date.now()).toBeGreaterThan(9 * 60_000);
    const open = () => app.fetch(new Request(`http://crane.test${websocket}`, { headers: { upgrade: "websocket" } }), env);
    // A reconnection reuses the same token: a dropped client must not lose its stream.
    for (let i = 0; i < 2; i++) {
      const res = await open();
      expect(res.status).toBe(101);
      res.webSocket!.accept();
      res.webSocket!.close();
    }
    // A made-up token is 401 watch_token_invalid ("get a new one"), not a missing run.
    const forged = await app.fetch(
      new Request(`http://crane.test/api/v1/runs/${run.run_id}/ws?token=wt_${"a".repeat(48)}`, { headers: { upgrade: "websocket" } }),
      env,
    );
    expect(forged.status).toBe(401);
    expect(await errorOf(forged)).toMatchObject({ code: "watch_token_invalid", details: { run_id: run.run_id } });
    expect((await app.fetch(new Request(`http://crane.test/api/v1/runs/${run.run_id}/ws`, { headers: { upgrade: "websocket" } }), env)).status).toBe(401);
  });

  it("an expired watch token is 401 watch_token_invalid", async () => {
    const run = await createRun({ prompt: "calculate 6 * 6" });
    const { token } = (await (await api(`/runs/${run.run_id}/watch-token`, { method: "POST" })).json()) as { token: string };
    // Age every token of the run past its expiry, inside the object.
    await runInDurableObject(env.RUNS.getByName(run.run_id), (_obj, state) => {
      state.storage.sql.exec("UPDATE watch_tokens SET expires_at = ?", Date.now() - 1);
    });
    const res = await app.fetch(new Request(`http://crane.test/api/v1/runs/${run.run_id}/stream?token=${token}`), env);
    expect(res.status).toBe(401);
    expect((await errorOf(res)).code).toBe("watch_token_invalid");
  });

  it("a watch token opens the Server-Sent Events stream again and again; the stream names its events and ends after the run's", async () => {
    const run = await createRun({ prompt: "calculate 3 * 3" });
    await waitForRun(run.run_id);
    const { stream } = (await (await api(`/runs/${run.run_id}/watch-token`, { method: "POST" })).json()) as { stream: string };
    const res = await app.fetch(new Request(`http://crane.test${stream}`), env);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    // The whole body: the stream closes itself after run.completed, so this read ends.
    const text = await res.text();
    expect(text).toMatch(/id: 1\nevent: run.created\ndata: \{"seq":1,"type":"run.created"/);
    const blocks = text.split("\n\n").filter((b) => b.startsWith("id: "));
    expect(blocks.at(-1)).toMatch(/\nevent: run.completed\n/);
    const lastSeq = Number(/^id: (\d+)/.exec(blocks.at(-1)!)![1]);
    // The same URL again, as an EventSource reconnecting: from the middle it sends the rest…
    const rest = await app.fetch(new Request(`http://crane.test${stream}`, { headers: { "last-event-id": String(lastSeq - 1) } }), env);
    expect(rest.status).toBe(200);
    expect((await rest.text()).split("\n\n").filter((b) => b.startsWith("id: "))).toEqual([blocks.at(-1)]);
    // …and past the terminal event, 204: the spec's "stop reconnecting".
    const done = await app.fetch(new Request(`http://crane.test${stream}`, { headers: { "last-event-id": String(lastSeq) } }), env);
    expect(done.status).toBe(204);
  });

  it("a resumed run's stream does not end at its earlier run.failed", async () => {
    const run = await createRun({ plan: { steps: [{ step_number: 1, tool: "Calculator.evaluate", input: { expression: "1 / 0" } }] } });
    expect((await waitForRun(run.run_id)).status).toBe("failed");
    expect((await api(`/runs/${run.run_id}/resume`, { method: "POST" })).status).toBe(200);
    await waitForRun(run.run_id);
    const text = await (await api(`/runs/${run.run_id}/stream`)).text();
    const types = text
      .split("\n\n")
      .filter((b) => b.startsWith("id: "))
      .map((b) => /\nevent: (\S+)/.exec(b)![1]);
    expect(types).toContain("run.resumed");
    expect(types.indexOf("run.failed")).toBeLessThan(types.indexOf("run.resumed"));
    expect(types.at(-1)).toBe("run.failed");
  });

  it("keeps at most 100 unused watch tokens per run", async () => {
    const run = await createRun({ prompt: "calculate 4 * 4" });
    const issue = () => api(`/runs/${run.run_id}/watch-token`, { method: "POST" });
    const statuses = await Promise.all(Array.from({ length: 100 }, issue).map(async (r) => (await r).status));
    expect(statuses.every((s) => s === 201)).toBe(true);
    const over = await issue();
    expect(over.status).toBe(429);
    expect(over.headers.get("retry-after")).toBe("600");
    expect((await errorOf(over)).code).toBe("too_many_watch_tokens");
  });

  it("a watch token opens only the run it was issued for", async () => {
    const one = await createRun({ prompt: "calculate 1 + 1" });
    const two = await createRun({ prompt: "calculate 2 + 2" });
    const { token } = (await (await api(`/runs/${one.run_id}/watch-token`, { method: "POST" })).json()) as { token: string };
    const res = await app.fetch(new Request(`http://crane.test/api/v1/runs/${two.run_id}/stream?token=${token}`), env);
    expect(res.status).toBe(401);
    expect((await errorOf(res)).code).toBe("watch_token_invalid");
    // Nor a run that does not exist: the same 401, so a token reveals no run ids.
    const missing = await app.fetch(new Request(`http://crane.test/api/v1/runs/run_${"0".repeat(32)}/stream?token=${token}`), env);
    expect(missing.status).toBe(401);
  });
});

describe("the per-tenant cap on runs in flight", () => {
  it("answers 429 with Retry-After at the cap, and accepts again once a run ends", async () => {
    const key = await newKey(tenantName());
    const capped = { ...env, MAX_RUNS_IN_FLIGHT: "2" } as Env;
    const post = (prompt: string) =>
      app.fetch(
        new Request("http://crane.test/api/v1/runs", {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${key.secret}` },
          body: JSON.stringify({ prompt }),
        }),
        capped,
      );
    const r1 = await post("wait 30 seconds then calculate 1 + 1");
    // Refused requests (a prompt that cannot be planned) keep no slot: the second run still fits.
    for (let i = 0; i < 3; i++) expect((await post("what is the meaning of life")).status).toBe(400);
    const r2 = await post("wait 30 seconds then calculate 2 + 2");
    expect([r1.status, r2.status]).toEqual([201, 201]);
    const third = await post("list my todos");
    expect(third.status).toBe(429);
    expect(Number(third.headers.get("retry-after"))).toBeGreaterThan(0);
    const err = await errorOf(third);
    expect(err).toMatchObject({ code: "too_many_runs_in_flight", details: { in_flight: 2, limit: 2 } });
    // The rejected request left nothing behind: the tenant still has exactly two runs.
    // A calculation ends inside its create, so it needs no slot: it runs even at the cap.
    const inline = await post("calculate 3 + 3");
    expect(inline.status).toBe(201);
    expect(((await inline.json()) as RunResource).status).toBe("completed");
    // The read model follows the answer by a moment: wait for the three accepted runs to appear.
    await vi.waitFor(async () => {
      const listed = (await (await api("/runs?limit=100", { key: key.secret })).json()) as { runs: unknown[] };
      expect(listed.runs).toHaveLength(3);
    }, SETTLE);

    const first = (await r1.json()) as RunResource;
    expect((await api(`/runs/${first.run_id}/cancel`, { method: "POST", key: key.secret })).status).toBe(200);
    // The cancel gave the slot back at once: a run that holds its slot (it waits 30 s) takes it.
    const again = await post("wait 30 seconds then calculate 3 + 3");
    expect(again.status).toBe(201);
    // Resuming the cancelled run needs a slot again, and the tenant is back at its cap.
    const resumed = await app.fetch(
      new Request(`http://crane.test/api/v1/runs/${first.run_id}/resume`, { method: "POST", headers: { authorization: `Bearer ${key.secret}` } }),
      capped,
    );
    expect(resumed.status).toBe(429);
    expect((await errorOf(resumed)).code).toBe("too_many_runs_in_flight");
  });
  it("still answers a replay of an existing run at the cap, since a replay starts nothing", async () => {
    const key = await newKey(tenantName());
    const capped = { ...env, MAX_RUNS_IN_FLIGHT: "1" } as Env;
    const post = (prompt: string, idem?: string) =>
      app.fetch(
        new Request("http://crane.test/api/v1/runs", {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${key.secret}`, ...(idem ? { "idempotency-key": idem } : {}) },
          body: JSON.stringify({ prompt }),
        }),
        capped,
      );
    const done = await post("calculate 1 + 1", "first");
    expect(done.status).toBe(201);
    await waitForRun(((await done.json()) as RunResource).run_id, undefined, undefined, key.secret);
    // Its slot comes back when it ends; then a long run takes the only one.
    await vi.waitFor(async () => expect((await post("wait 30 seconds then calculate 2 + 2")).status).toBe(201), SETTLE);
    expect((await post("list my todos")).status).toBe(429);
    expect((await post("calculate 1 + 1", "first")).status).toBe(200); // the replay
    expect((await post("calculate 5 + 5", "first")).status).toBe(409); // a conflicting reuse of the key
    expect((await post("list my todos", "second")).status).toBe(429); // a new key would start a run that holds a slot
  });
});

describe("CORS", () => {
  const preflight = (origin: string) =>
    new Request("http://crane.test/api/v1/runs", {
      method: "OPTIONS",
      headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "authorization,content-type" },
    });

  it("adds no CORS headers by default", async () => {
    const res = await app.fetch(new Request("http://crane.test/api/v1/health", { headers: { origin: "https://evil.example" } }), env);
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("allows exactly the configured origins", async () => {
    const configured = { ...env, CORS_ORIGINS: "https://app.example.com, https://admin.example.com/" } as Env;
    const ok = await app.fetch(preflight("https://app.example.com"), configured);
    expect(ok.status).toBe(204);
    expect(ok.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
    expect(ok.headers.get("access-control-allow-headers")).toContain("authorization");
    expect(ok.headers.get("access-control-allow-credentials")).toBeNull();
    const other = await app.fetch(preflight("https://evil.example"), configured);
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
    // CORS does not replace the key: a cross-origin call without one is still 401.
    const get = await app.fetch(new Request("http://crane.test/api/v1/runs", { headers: { origin: "https://app.example.com" } }), configured);
    expect(get.status).toBe(401);
    expect(get.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
  });
});
