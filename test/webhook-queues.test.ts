// The webhook queues (src/durable/webhooks/webhook-queues.ts): WEBHOOK_QUEUE_SHARDS queues, 2 in
// wrangler.toml, each tenant's notices on the one its name hashes to, every queue consumed by the
// webhook consumer, and a count that does not match the bindings refused loudly.
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import worker from "../src/index";
import { app } from "../src/app";
import { forgetHealth } from "../src/api/health";
import { fnv1a32 } from "../src/lib/fnv";
import { noticeMessage } from "../src/durable/webhooks/notice";
import { allWebhookQueues, isWebhookQueue, webhookQueueFor, WebhookQueueConfigError } from "../src/durable/webhooks/webhook-queues";
import { uniq } from "./helpers";
import { calc, received, receiver, startRun, subscribe, tenant, verified } from "./webhooks/harness";

const queues = allWebhookQueues(env);

/** A fresh tenant (with its key) whose notices go to webhook queue `i`. */
async function tenantOn(i: number): Promise<{ tenant: string; key: string }> {
  for (;;) {
    const t = await tenant();
    if (fnv1a32(t.tenant) % queues.length === i) return t;
  }
}

async function health(withEnv: Env) {
  forgetHealth();
  const res = await app.fetch(new Request("http://crane.test/api/v1/health"), withEnv);
  return { status: res.status, body: (await res.json()) as { checks: Record<string, string> } };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("the webhook queues", () => {
  it("are the two wrangler.toml bindings, and a tenant's notices always go to the one its name hashes to", () => {
    expect(queues).toEqual([env.WEBHOOK_NOTICES, env.WEBHOOK_NOTICES_1]);
    const tenants = Array.from({ length: 400 }, () => `tenant-${uniq()}${uniq()}`);
    for (const t of tenants) expect(webhookQueueFor(env, t)).toBe(queues[fnv1a32(t) % 2]);
    // Spread: each queue gets a fair share (a binomial's 400 draws land far inside these bounds).
    const onFirst = tenants.filter((t) => webhookQueueFor(env, t) === env.WEBHOOK_NOTICES).length;
    expect(onFirst).toBeGreaterThan(140);
    expect(onFirst).toBeLessThan(260);
    // The queue handler knows every queue of the series by name, and nothing else by that prefix.
    expect(["crane-webhooks", "crane-webhooks-1", "crane-webhooks-12"].every(isWebhookQueue)).toBe(true);
    expect(["crane-webhooks-held", "crane-webhooks-0", "crane-webhooks-", "crane-steps", "crane-read-model"].some(isWebhookQueue)).toBe(false);
  });

  it("sends each run's milestone to its tenant's queue, and delivers from either", async () => {
    for (const i of [0, 1]) {
      const t = await tenantOn(i);
      const path = `q${i}-${uniq()}`;
      const hook = await subscribe(t.key, `${receiver}/hook/${path}`, ["run.completed"]);
      const sends = queues.map((q) => vi.spyOn(q, "send"));
      const run = await startRun(t.key, calc);
      const [r] = await received(path, 1);
      expect(verified(hook.secret, r!)).toMatchObject({ type: "run.completed", data: { run: { run_id: run.run_id } } });
      const sent = (q: number) => sends[q]!.mock.calls.filter(([m]) => (m as { run_id?: string }).run_id === run.run_id).length;
      expect(sent(i)).toBe(1);
      expect(sent(1 - i)).toBe(0);
      vi.restoreAllMocks();
    }
  });

  it("consumes a batch from crane-webhooks-1 as webhook notices", async () => {
    const t = await tenant();
    const path = `direct-${uniq()}`;
    const hook = await subscribe(t.key, `${receiver}/hook/${path}`, ["run.completed"]);
    const at = new Date().toISOString();
    const runId = `run_${uniq()}`;
    const message = noticeMessage({
      tenant: t.tenant,
      run_id: runId,
      seq: 4,
      type: "run.completed",
      at,
      run: {
        run_id: runId,
        prompt: "calculate 1 + 1",
        status: "completed",
        planner: "rules",
        step_count: 1,
        result: 2,
        error: null,
        created_at: at,
        started_at: at,
        completed_at: at,
      },
    });
    const batch = createMessageBatch("crane-webhooks-1", [{ id: `wq-${uniq()}`, timestamp: new Date(), attempts: 1, body: message }]);
    const ctx = createExecutionContext();
    await worker.queue(batch as MessageBatch<unknown>, env);
    expect((await getQueueResult(batch, ctx)).explicitAcks).toHaveLength(1);
    const [r] = await received(path, 1);
    expect(verified(hook.secret, r!)).toMatchObject({ type: "run.completed", data: { run: { run_id: runId, result: 2 } } });
  });

  it("refuses a count that does not match the bindings, and /health says so", async () => {
    const tooMany = { ...env, WEBHOOK_QUEUE_SHARDS: "3" } as Env;
    expect(() => webhookQueueFor(tooMany, "acme")).toThrow(WebhookQueueConfigError);
    expect(() => allWebhookQueues(tooMany)).toThrow(/no queue producer WEBHOOK_NOTICES_2/);
    // Fewer than the bindings: a queue nothing would ever be sent to.
    expect(() => allWebhookQueues({ ...env, WEBHOOK_QUEUE_SHARDS: "1" } as Env)).toThrow(/WEBHOOK_NOTICES_1 exists/);
    expect(() => allWebhookQueues({ ...env, WEBHOOK_QUEUE_SHARDS: "0" } as Env)).toThrow(/whole number from 1 to 32/);
    const broken = await health(tooMany);
    expect(broken.status).toBe(503);
    expect(broken.body.checks.queue).toBe("failing");
    expect((await health(env)).body.checks.queue).toBe("ok");
  });
});
