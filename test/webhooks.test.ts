// Webhooks end to end in workerd: subscriptions and a run's own webhook, sent by the run object to
// the real crane-webhooks queue, delivered by its consumer to a real local receiver
// (test/webhooks/receiver.ts) and checked with the standardwebhooks library's own verifier.
// Retries are queue messages the consumer sends with the backoff as their delay; in these tests
// they go to a queue nobody consumes, and each test delivers them through the Worker's queue
// handler after moving the outbox's clock (which decides whether one is due), never by sleeping.
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { Webhook } from "standardwebhooks";
import { describe, expect, inject, it, vi } from "vitest";
import type { WebhookOutbox } from "../src/durable/webhooks/webhook-outbox";
import { tablesOf } from "../src/durable/run/storage/event-log";
import type { RunEvent } from "../src/durable/run/domain/events";
import { api, errorOf, SETTLE, uniq, waitForRun } from "./helpers";
import { approval, calc, deliveries, failing, later, outbox, received, receiver, startRun, subscribe, tenant, verified, waitAfter } from "./webhooks/harness";

describe("webhook subscriptions", () => {
  it("retries a receiver that fails twice: three attempts, one webhook-id, each validly signed", async () => {
    const t = await tenant();
    const path = `sub-${uniq()}`;
    const hook = await subscribe(t.key, `${receiver}/hook/${path}?fail=2`, ["run.completed"]);
    expect(hook.secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    const run = await startRun(t.key, calc);
    expect(run.status).toBe("completed");

    // The first attempt goes out from the queue's consumer; it fails with 503.
    await received(path, 1);
    let [d] = await deliveries(t.key, hook.webhook_id);
    expect(d).toMatchObject({ type: "run.completed", run_id: run.run_id, status: "pending" });
    expect(d!.attempts).toHaveLength(1);
    expect(d!.attempts[0]).toMatchObject({ attempt: 1, status_code: 503, error: null });
    expect(waitAfter(d!, 0)).toBe(5_000);

    // Not due yet by the outbox's clock: the retry sends nothing.
    await later(t, hook.webhook_id, 2_000);
    expect(await received(path)).toHaveLength(1);
    await later(t, hook.webhook_id, 5_000);
    await received(path, 2);
    [d] = await deliveries(t.key, hook.webhook_id);
    expect(d!.attempts.map((a) => a.status_code)).toEqual([503, 503]);
    expect(waitAfter(d!, 1)).toBe(15_000);
    await later(t, hook.webhook_id, 20_000);
    const got = await received(path, 3);

    [d] = await deliveries(t.key, hook.webhook_id);
    expect(d).toMatchObject({ status: "delivered", next_attempt_at: null });
    expect(d!.attempts.map((a) => a.status_code)).toEqual([503, 503, 204]);
    for (const a of d!.attempts) expect(a.duration_ms).toBeGreaterThanOrEqual(0);
    expect(got).toHaveLength(3);
    expect(new Set(got.map((r) => r.headers["webhook-id"]))).toEqual(new Set([d!.delivery_id]));
    for (const r of got) {
      const body = verified(hook.secret, r);
      expect(body).toMatchObject({ type: "run.completed", data: { run: { run_id: run.run_id, status: "completed", result: 42 } } });
      expect(r.headers["webhook-signature"]).toMatch(/^v1,/);
      expect(r.headers["content-type"]).toBe("application/json");
    }
    // The same body every time; each attempt signs its own timestamp.
    expect(new Set(got.map((r) => r.body)).size).toBe(1);
    expect(() => new Webhook(hook.secret).verify(got[0]!.body.replace("42", "43"), got[0]!.headers)).toThrow();
    expect(() => verified(`whsec_${btoa("another secret, not this one")}`, got[0]!)).toThrow();
  });

  it("honours Retry-After on a 429", async () => {
    const t = await tenant();
    const path = `429-${uniq()}`;
    const hook = await subscribe(t.key, `${receiver}/hook/${path}?fail=1&status=429&retry_after=120`, ["run.completed"]);
    await startRun(t.key, calc);
    await received(path, 1);
    let [d] = await deliveries(t.key, hook.webhook_id);
    expect(d!.attempts[0]!.status_code).toBe(429);
    expect(waitAfter(d!, 0)).toBe(120_000);
    // Past the backoff's 5 s but within the receiver's 120 s: nothing.
    await later(t, hook.webhook_id, 60_000);
    expect(await received(path)).toHaveLength(1);
    await later(t, hook.webhook_id, 121_000);
    const got = await received(path, 2);
    [d] = await deliveries(t.key, hook.webhook_id);
    expect(d!.status).toBe("delivered");
    expect(got[1]!.headers["webhook-id"]).toBe(got[0]!.headers["webhook-id"]);
    verified(hook.secret, got[1]!);
  });

  it("gives up after 8 attempts on a receiver that always fails, backing off to an hour", async () => {
    const t = await tenant();
    const path = `down-${uniq()}`;
    const hook = await subscribe(t.key, `${receiver}/hook/${path}?fail=100`, ["run.completed"]);
    await startRun(t.key, calc);
    await received(path, 1);
    let offset = 0;
    const waits: number[] = [];
    for (let n = 1; n < 8; n++) {
      const [d] = await deliveries(t.key, hook.webhook_id);
      waits.push(waitAfter(d!, n - 1));
      offset += waitAfter(d!, n - 1) + 1_000;
      await later(t, hook.webhook_id, offset);
      await received(path, n + 1);
    }
    expect(waits).toEqual([5_000, 15_000, 45_000, 135_000, 405_000, 1_215_000, 3_600_000]);
    const [d] = await deliveries(t.key, hook.webhook_id);
    expect(d).toMatchObject({ status: "failed", reason: "no success in 8 attempts", next_attempt_at: null });
    expect(d!.attempts.map((a) => a.status_code)).toEqual(Array(8).fill(503));
    expect(new Set((await received(path)).map((r) => r.headers["webhook-id"]))).toEqual(new Set([d!.delivery_id]));
  });

  it("does not follow a redirect: the delivery ends with its 302", async () => {
    const t = await tenant();
    const path = `moved-${uniq()}`;
    const hook = await subscribe(t.key, `${inject("upstreamUrl")}/redirect?to=${encodeURIComponent(`${receiver}/hook/${path}`)}`, ["run.completed"]);
    await startRun(t.key, calc);
    const d = await vi.waitFor(async () => {
      const [latest] = await deliveries(t.key, hook.webhook_id);
      expect(latest?.status).toBe("failed");
      return latest;
    }, SETTLE);
    expect(d).toMatchObject({ status: "failed", reason: "the receiver answered 302" });
    expect(d!.attempts.map((a) => a.status_code)).toEqual([302]);
    expect(await received(path)).toEqual([]);
  });

  it("unsubscribes a receiver that answers 410 Gone", async () => {
    const t = await tenant();
    const path = `gone-${uniq()}`;
    const hook = await subscribe(t.key, `${receiver}/gone/${path}`, ["run.completed", "run.failed"]);
    expect(await env.TENANTS.getByName(t.tenant).webhookEvents()).toEqual(["run.completed", "run.failed"]);
    await startRun(t.key, calc);
    await received(path, 1);
    await vi.waitFor(async () => expect((await (await api("/webhooks", { key: t.key })).json<{ webhooks: unknown[] }>()).webhooks).toEqual([]), SETTLE);
    expect((await api(`/webhooks/${hook.webhook_id}/deliveries`, { key: t.key })).status).toBe(404);
    // Runs learn it from the tenant's limiter: they no longer call anyone, and the outbox has nothing due.
    expect(await env.TENANTS.getByName(t.tenant).webhookEvents()).toEqual([]);
    await runInDurableObject(outbox(t.tenant), (_o: WebhookOutbox, state) => {
      expect(state.storage.sql.exec(`SELECT count(*) AS n FROM deliveries WHERE status = 'pending'`).one().n).toBe(0);
      expect(state.storage.sql.exec(`SELECT status, reason FROM deliveries`).toArray()).toEqual([
        { status: "cancelled", reason: "the receiver answered 410 Gone" },
      ]);
    });
  });

  it("calls a run.waiting subscriber when a run starts waiting, and no one for events it did not ask for", async () => {
    const t = await tenant();
    const path = `wait-${uniq()}`;
    const hook = await subscribe(t.key, `${receiver}/hook/${path}`, ["run.waiting"]);
    const run = await startRun(t.key, approval);
    const [r] = await received(path, 1);
    expect(verified(hook.secret, r!)).toMatchObject({ type: "run.waiting", data: { run: { run_id: run.run_id, status: "waiting" } } });
    expect((await api(`/runs/${run.run_id}/cancel`, { method: "POST", key: t.key })).status).toBe(200);
    await waitForRun(run.run_id, (x) => x.status === "cancelled", 5_000, t.key);
    // The cancel is no milestone this tenant subscribed to: the run writes no handoff for it, and
    // the waiting one's row goes once the consumer says the outbox recorded it.
    await vi.waitFor(() =>
      runInDurableObject(env.RUNS.getByName(run.run_id), (_o, state) => {
        expect(state.storage.sql.exec(`SELECT count(*) AS n FROM webhook_handoffs`).one().n).toBe(0);
      }),
    );
    expect(await deliveries(t.key, hook.webhook_id)).toHaveLength(1);
  });

  it("costs a tenant without webhooks nothing: no handoff table, no webhook fields, no outbox request", async () => {
    const t = await tenant();
    const run = await startRun(t.key, approval);
    await api(`/runs/${run.run_id}/cancel`, { method: "POST", key: t.key });
    const ended = await waitForRun(run.run_id, (x) => x.status === "cancelled", 5_000, t.key);
    expect(ended.status).toBe("cancelled");
    const page = (await (await api(`/runs/${run.run_id}/events`, { key: t.key })).json()) as { events: RunEvent<"run.created">[] };
    expect(page.events[0]!.data).not.toHaveProperty("webhook_events");
    expect(page.events[0]!.data).not.toHaveProperty("webhook");
    await runInDurableObject(env.RUNS.getByName(run.run_id), (_o, state) => {
      expect(tablesOf(state.storage.sql).has("webhook_handoffs")).toBe(false);
    });
    // create, slot, cancel, slot back: the same four requests as before webhooks existed.
    const usage = (await (await api(`/runs/${run.run_id}/usage`, { key: t.key })).json()) as { do_requests: number };
    expect(usage.do_requests).toBe(4);
  });

  it("refuses private, loopback and metadata addresses that are not allowlisted", async () => {
    const t = await tenant();
    for (const url of [
      "http://10.0.0.8/hook",
      "http://169.254.169.254/latest/meta-data",
      "http://[::1]:8080/hook",
      "http://192.168.1.20/",
      "http://metadata.google.internal/",
    ]) {
      const res = await api("/webhooks", { method: "POST", json: { url, events: ["run.completed"] }, key: t.key });
      expect(res.status, url).toBe(400);
      const error = await errorOf(res);
      expect(error.code).toBe("webhook_url_not_allowed");
      expect(error.message).toContain("HTTP_TOOL_ALLOWLIST");
    }
    expect((await (await api("/webhooks", { key: t.key })).json<{ webhooks: unknown[] }>()).webhooks).toEqual([]);
    // 127.0.0.1 is allowlisted in the tests (the receiver lives there).
    await subscribe(t.key, `${receiver}/hook/ok-${uniq()}`, ["run.failed"]);
  });

  it("keeps one tenant's webhooks from another: not listed, not deletable, no deliveries (404)", async () => {
    const a = await tenant();
    const b = await tenant();
    const hook = await subscribe(a.key, `${receiver}/hook/iso-${uniq()}`, ["run.completed"]);
    expect((await (await api("/webhooks", { key: b.key })).json<{ webhooks: unknown[] }>()).webhooks).toEqual([]);
    const del = await api(`/webhooks/${hook.webhook_id}`, { method: "DELETE", key: b.key });
    expect(del.status).toBe(404);
    expect((await errorOf(del)).code).toBe("webhook_not_found");
    expect((await api(`/webhooks/${hook.webhook_id}/deliveries`, { key: b.key })).status).toBe(404);
    const mine = (await (await api("/webhooks", { key: a.key })).json()) as { webhooks: { webhook_id: string; secret?: string }[] };
    expect(mine.webhooks.map((w) => w.webhook_id)).toEqual([hook.webhook_id]);
    expect(mine.webhooks[0]).not.toHaveProperty("secret");
    expect((await api(`/webhooks/${hook.webhook_id}`, { method: "DELETE", key: a.key })).status).toBe(204);
    expect((await api(`/webhooks/${hook.webhook_id}`, { method: "DELETE", key: a.key })).status).toBe(404);
  });

  it("answers bad input with 400 in the error shape", async () => {
    const t = await tenant();
    const url = `${receiver}/hook/x`;
    for (const body of [
      {},
      { url },
      { url, events: [] },
      { url, events: ["run.exploded"] },
      { url: "ftp://example.com/x", events: ["run.completed"] },
      { url: "not a url", events: ["run.completed"] },
      { url: "https://user:pw@example.com/x", events: ["run.completed"] },
      { url, events: ["run.completed"], secret: "mine" },
      { url: 42, events: ["run.completed"] },
    ]) {
      const res = await api("/webhooks", { method: "POST", json: body, key: t.key });
      expect(res.status, JSON.stringify(body)).toBe(400);
      await errorOf(res);
    }
    expect((await api("/webhooks/wh_x/deliveries?limit=0", { key: t.key })).status).toBe(400);
    expect((await api("/webhooks", { method: "POST", body: "{}", key: t.key })).status).toBe(415);
    for (const webhook of [{}, { url: "nope" }, { url, extra: 1 }, "http://x"]) {
      const res = await api("/runs", { method: "POST", json: { ...calc, webhook }, key: t.key });
      expect(res.status, JSON.stringify(webhook)).toBe(400);
    }
    expect((await (await api("/webhooks", { key: t.key })).json<{ webhooks: unknown[] }>()).webhooks).toEqual([]);
  });
});

describe("a run's own webhook", () => {
  it("needs the tenant's signing secret first, then calls the URL at the run's end, signed with it", async () => {
    const t = await tenant();
    const path = `run-${uniq()}`;
    const webhook = { url: `${receiver}/hook/${path}` };
    const refused = await api("/runs", { method: "POST", json: { ...calc, webhook }, key: t.key });
    expect(refused.status).toBe(400);
    const error = await errorOf(refused);
    expect(error.code).toBe("webhook_signing_secret_missing");
    expect(error.message).toContain("POST /api/v1/webhooks/signing-secret");

    const first = await api("/webhooks/signing-secret", { method: "POST", key: t.key });
    expect(first.status).toBe(200);
    const old = ((await first.json()) as { secret: string }).secret;
    const rotated = ((await (await api("/webhooks/signing-secret", { method: "POST", key: t.key })).json()) as { secret: string }).secret;
    expect(rotated).toMatch(/^whsec_/);
    expect(rotated).not.toBe(old);

    const ok = await startRun(t.key, { ...calc, webhook });
    const bad = await startRun(t.key, { ...failing, webhook });
    const got = await received(path, 2);
    const bodies = got.map((r) => verified(rotated, r));
    expect(bodies.map((b) => [b.type, b.data.run.run_id]).sort()).toEqual(
      [
        ["run.completed", ok.run_id],
        ["run.failed", bad.run_id],
      ].sort(),
    );
    const failed = bodies.find((b) => b.type === "run.failed")!;
    expect(failed.data.run.error?.code).toBe("division_by_zero");
    expect(failed.timestamp).toMatch(/^\d{4}-\d{2}-\d{2}T/);
    expect(() => verified(old, got[0]!)).toThrow();
  });

  it("refuses a run whose webhook points at a private address", async () => {
    const t = await tenant();
    await api("/webhooks/signing-secret", { method: "POST", key: t.key });
    const res = await api("/runs", { method: "POST", json: { ...calc, webhook: { url: "http://10.1.2.3/hook" } }, key: t.key });
    expect(res.status).toBe(400);
    expect((await errorOf(res)).code).toBe("webhook_url_not_allowed");
  });
});
