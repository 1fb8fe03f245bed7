// The webhook queues (src/durable/webhooks/webhook-queues.ts): WEBHOOK_QUEUE_SHARDS queues, 2 in
// wrangler.toml, each run's notices on the one its id hashes to (so one tenant's runs use every
// queue), every queue consumed by the webhook consumer, and a count that does not match the
// bindings refused loudly.
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

async function health(withEnv: Env) {
  forgetHealth();
  const res = await app.fetch(new Request("http://crane.test/api/v1/health"), withEnv);
  return { status: res.status, body: (await res.json()) as { checks: Record<string, string> } };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("the webhook queues", () => {
  it("are the two wrangler.toml bindings, and a run's notices always go to the one its id hashes to", () => {
    expect(queues).toEqual([env.WEBHOOK_NOTICES, env.WEBHOOK_NOTICES_1]);
    const runs = Array.from({ length: 400 }, () => `run-${uniq()}${uniq()}`);
    for (const id of runs) expect(webhookQueueFor(env, id)).toBe(queues[fnv1a32(id) % 2]);
    // Spread: each queue gets a fair share (a binomial's 400 draws land far inside these bounds).
    const onFirst = runs.filter((id) => webhookQueueFor(env, id) === env.WEBHOOK_NOTICES).length;
    expect(onFirst).toBeGreaterThan(140);
    expect(onFirst).toBeLessThan(260);
    // The queue handler knows every queue of the series by name, and nothing else by that prefix.
    expect(["crane-webhooks", "crane-webhooks-1", "crane-webhooks-12"].every(isWebhookQueue)).toBe(true);
    expect(["crane-webhooks-held", "crane-webhooks-0", "crane-webhooks-", "crane-steps", "crane-read-model"].some(isWebhookQueue)).toBe(false);
  });

  it("sends each run's milestone to its run's queue, so one tenant's runs use both, and delivers from either", async () => {
    const t = await tenant();
    const path = `spread-${uniq()}`;
    const hook = await subscribe(t.key, `${receiver}/hook/${path}`, ["run.completed"]);
    const sends = queues.map((q) => vi.spyOn(q, "send"));
    const seen = new Set<number>();
    // Run ids are random: runs of the one tenant until one has gone through each queue (2 or 3, most often).
    for (let n = 1; n <= 20 && seen.size < 2; n++) {
      const run = await startRun(t.key, calc);
      const own = fnv1a32(run.run_id) % 2;
      const got = await received(path, n);
      expect(verified(hook.secret, got[n - 1]!)).toMatchObject({ type: "run.completed", data: { run: { run_id: run.run_id } } });
      const sent = (q: number) => sends[q]!.mock.calls.filter(([m]) => (m as { run_id?: string }).run_id === run.run_id).length;
      expect(sent(own)).toBe(1);
      expect(sent(1 - own)).toBe(0);
      seen.add(own);
    }
    expect(seen.size).toBe(2);
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
    expect(() => webhookQueueFor(tooMany, "run-1")).toThrow(WebhookQueueConfigError);
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
