// Webhooks off the tenant's hot path: a run's milestone is one queue message, the consumer records
// a batch's attempts in the tenant's WebhookOutbox in one request, a milestone's body is stored
// once whatever its number of targets, and a message the queue repeats is recorded once.
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, onTestFinished, vi } from "vitest";
import type { NoticeMessage, RetryMessage } from "../src/durable/webhooks/notice";
import { LOST_RETRY_MS, type WebhookOutbox } from "../src/durable/webhooks/webhook-outbox";
import { api, uniq } from "./helpers";
import { calc, deliver, deliveries, outbox, received, receiver, startRun, subscribe, tenant, verified } from "./webhooks/harness";

/** The requests the tenant's outbox has served since it started (read without making one). */
const served = (name: string) => runInDurableObject(outbox(name), (o: WebhookOutbox) => o.served);

/** Rows in the tenant's outbox tables, read in the object. */
const count = (name: string, sql: string) => runInDurableObject(outbox(name), (_o: WebhookOutbox, state) => state.storage.sql.exec<{ n: number }>(sql).one().n);

/** A milestone as a run object sends it, for a run that exists only in this message. */
function notice(tenantName: string): NoticeMessage {
  const at = new Date().toISOString();
  return {
    kind: "notice",
    tenant: tenantName,
    run_id: `run_${uniq()}`,
    seq: 7,
    type: "run.completed",
    at,
    run: {
      run_id: "r",
      prompt: "calculate 6 * 7",
      status: "completed",
      planner: "rules",
      step_count: 1,
      result: 42,
      error: null,
      created_at: at,
      started_at: at,
      completed_at: at,
    },
  };
}

describe("webhooks through the queue", () => {
  it("stores a milestone's body once for all its targets: two subscriptions and the run's own URL", async () => {
    const t = await tenant();
    const [a, b, own] = [`a-${uniq()}`, `b-${uniq()}`, `own-${uniq()}`];
    const hookA = await subscribe(t.key, `${receiver}/hook/${a}`, ["run.completed"]);
    const hookB = await subscribe(t.key, `${receiver}/hook/${b}`, ["run.completed", "run.failed"]);
    const { secret: runSecret } = (await (await api("/webhooks/signing-secret", { method: "POST", key: t.key })).json()) as { secret: string };
    const run = await startRun(t.key, { ...calc, webhook: { url: `${receiver}/hook/${own}` } });

    const [gotA, gotB, gotOwn] = [(await received(a, 1))[0]!, (await received(b, 1))[0]!, (await received(own, 1))[0]!];
    expect(verified(hookA.secret, gotA).data.run.run_id).toBe(run.run_id);
    expect(verified(hookB.secret, gotB).data.run.run_id).toBe(run.run_id);
    expect(verified(runSecret, gotOwn).data.run.run_id).toBe(run.run_id);
    expect(new Set([gotA.body, gotB.body, gotOwn.body]).size).toBe(1);
    await vi.waitFor(async () => expect(await count(t.tenant, `SELECT count(*) AS n FROM deliveries WHERE status = 'delivered'`)).toBe(3));

    expect(await count(t.tenant, `SELECT count(*) AS n FROM delivery_bodies`)).toBe(1);
    expect(await count(t.tenant, `SELECT count(*) AS n FROM deliveries WHERE body != ''`)).toBe(0);
    expect(await count(t.tenant, `SELECT sum(length(body)) AS n FROM delivery_bodies`)).toBe(new TextEncoder().encode(gotA.body).length);
    for (const hook of [hookA, hookB]) expect((await deliveries(t.key, hook.webhook_id)).map((d) => [d.run_id, d.status])).toEqual([[run.run_id, "delivered"]]);
  });

  it("takes 50 runs ending at once for one tenant with at most 10 requests to its outbox, and none from the runs", async () => {
    const t = await tenant();
    const path = `burst-${uniq()}`;
    await subscribe(t.key, `${receiver}/hook/${path}`, ["run.completed"]);
    const before = await served(t.tenant);

    const runs = await Promise.all(Array.from({ length: 50 }, () => startRun(t.key, calc)));
    expect(runs.every((r) => r.status === "completed")).toBe(true);
    const got = await received(path, 50);
    expect(new Set(got.map((r) => r.headers["webhook-id"])).size).toBe(50);
    // Recorded (read in the object, so the waiting adds no request).
    await vi.waitFor(async () => expect(await count(t.tenant, `SELECT count(*) AS n FROM deliveries WHERE status = 'delivered'`)).toBe(50), {
      timeout: 10_000,
      interval: 50,
    });

    // The configuration read (a miss) and one record per consumer batch: not one per run.
    const requests = (await served(t.tenant)) - before;
    expect(requests, `outbox requests for ${runs.length} run ends`).toBeGreaterThanOrEqual(2);
    expect(requests, `outbox requests for ${runs.length} run ends`).toBeLessThanOrEqual(0.2 * runs.length);
    // Each run paid one queue message (its notice) and no request to any shared object.
    for (const r of runs) {
      const usage = (await (await api(`/runs/${r.run_id}/usage`, { key: t.key })).json()) as {
        queue_messages: number;
        queued_attempts: number;
        shared_requests: Record<string, number>;
      };
      expect(usage).toMatchObject({ queue_messages: 1, queued_attempts: 0, shared_requests: {} });
    }
  });

  it("records a notice the queue delivers twice once, and a retry delivered twice is attempted once", async () => {
    const t = await tenant();
    const path = `dup-${uniq()}`;
    const hook = await subscribe(t.key, `${receiver}/hook/${path}?fail=1`, ["run.completed"]);
    const n = notice(t.tenant);
    // deliver() hands the Worker this test's env: the retries its consumer sends are seen here.
    const sends = vi.spyOn(env.WEBHOOK_RETRIES, "sendBatch");
    onTestFinished(() => sends.mockRestore());

    // Twice in one batch, then again in another: at least once on the wire, with one webhook-id.
    expect((await deliver(n, n)).explicitAcks).toHaveLength(2);
    expect((await deliver(n)).explicitAcks).toHaveLength(1);
    const first = await received(path, 1);
    expect(new Set(first.map((r) => r.headers["webhook-id"])).size).toBe(1);
    let [d, ...others] = await deliveries(t.key, hook.webhook_id);
    expect(others).toEqual([]);
    expect(d!.attempts.map((a) => a.attempt)).toEqual([1]);
    expect(d!.status).toBe("pending");
    // The 503 is retried by a queue message delayed by the first backoff (5 s), for attempt 2 only.
    const retries = sends.mock.calls.flatMap(([batch]) => [...batch]);
    expect(retries.length).toBeGreaterThanOrEqual(1);
    for (const r of retries) {
      expect(r.body).toEqual({ kind: "retry", tenant: t.tenant, delivery_id: d!.delivery_id, attempt: 2 });
      expect(r.delaySeconds).toBeGreaterThanOrEqual(4);
      expect(r.delaySeconds).toBeLessThanOrEqual(5);
    }

    // The retry, due, delivered twice (two batches): one attempt, one request to the receiver.
    await runInDurableObject(outbox(t.tenant), (o: WebhookOutbox) => {
      o.clock = () => Date.now() + 60_000;
    });
    const retry: RetryMessage = { kind: "retry", tenant: t.tenant, delivery_id: d!.delivery_id, attempt: 2 };
    const sentBefore = (await received(path)).length;
    await deliver(retry);
    await deliver(retry);
    expect((await received(path)).length).toBe(sentBefore + 1);
    [d, ...others] = await deliveries(t.key, hook.webhook_id);
    expect(others).toEqual([]);
    expect(d).toMatchObject({ status: "delivered" });
    expect(d!.attempts.map((a) => a.attempt)).toEqual([1, 2]);
    expect(await count(t.tenant, `SELECT count(*) AS n FROM delivery_bodies`)).toBe(1);
  });

  it("sends a retry whose message was lost again from the outbox's alarm, and attempts it once", async () => {
    const t = await tenant();
    const path = `lost-${uniq()}`;
    const hook = await subscribe(t.key, `${receiver}/hook/${path}?fail=1`, ["run.completed"]);
    // The consumer's delayed retry is the message that gets lost: held here, never delivered.
    const held = vi.spyOn(env.WEBHOOK_RETRIES, "sendBatch").mockResolvedValue(undefined as never);
    onTestFinished(() => held.mockRestore());
    await deliver(notice(t.tenant));
    await received(path, 1);
    const [d] = await deliveries(t.key, hook.webhook_id);
    expect(d).toMatchObject({ status: "pending" });
    const due = Date.parse(d!.next_attempt_at!);
    // Recording the retry armed the outbox's alarm for when that retry would be overdue.
    const alarm = await runInDurableObject(outbox(t.tenant), (_o: WebhookOutbox, state) => state.storage.getAlarm());
    expect(alarm).toBe(due + LOST_RETRY_MS);

    // Before then, the alarm sends nothing again; after, it sends the retry for attempt 2, due now.
    const resent = () => runInDurableObject(outbox(t.tenant), (o: WebhookOutbox) => o.resent);
    const fireAt = (now: number) =>
      runInDurableObject(outbox(t.tenant), async (o: WebhookOutbox, state) => {
        o.clock = () => now;
        // Far ahead, so workerd never fires it on its own before the test runs it (a race under load).
        await state.storage.setAlarm(Date.now() + 3_600_000);
      }).then(() => runDurableObjectAlarm(outbox(t.tenant)));
    const before0 = await resent();
    expect(await fireAt(due + LOST_RETRY_MS - 1_000)).toBe(true);
    expect(await resent()).toBe(before0);
    expect(await fireAt(due + LOST_RETRY_MS + 1_000)).toBe(true);
    expect(await resent()).toBe(before0 + 1);
    held.mockRestore();

    // The resent retry and the late original both arrive: one attempt, one request to the receiver.
    const before = (await received(path)).length;
    const retry: RetryMessage = { kind: "retry", tenant: t.tenant, delivery_id: d!.delivery_id, attempt: 2 };
    await deliver(retry, retry);
    expect((await received(path)).length).toBe(before + 1);
    const [after] = await deliveries(t.key, hook.webhook_id);
    expect(after).toMatchObject({ status: "delivered" });
    expect(after!.attempts.map((a) => a.attempt)).toEqual([1, 2]);
  });

  it("drops a message that is not a webhook message, acking it", async () => {
    const result = await deliver({ kind: "notice", tenant: "x" }, { kind: "something else" });
    expect(result.explicitAcks).toHaveLength(2);
    expect(result.retryMessages).toEqual([]);
  });
});
