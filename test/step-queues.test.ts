// The step queues (src/durable/run/effects/step-queues.ts): STEP_QUEUE_SHARDS queues, 2 in
// wrangler.toml, each run's attempts on the one its id hashes to, every queue consumed, and a count
// that does not match the bindings refused loudly.
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { app } from "../src/app";
import { forgetHealth } from "../src/api/health";
import { fnv1a32 } from "../src/lib/fnv";
import { allStepQueues, stepQueueFor, StepQueueConfigError } from "../src/durable/run/effects/step-queues";
import { createRun, DEV_KEY, getRun, SETTLE, uniq } from "./helpers";

const queues = allStepQueues(env);

/** A plan whose one step goes through the queue (a read of the tenant's todos). */
const queuedPlan = { plan: { steps: [{ step_number: 1, tool: "TodoStore.list", input: {} }] } };

async function health(withEnv: Env) {
  forgetHealth();
  const res = await app.fetch(new Request("http://crane.test/api/v1/health"), withEnv);
  return { status: res.status, body: (await res.json()) as { checks: Record<string, string>; queue?: { backlog_count: number } } };
}

describe("the step queues", () => {
  it("are the two wrangler.toml binds, and a run's attempts always go to the one its id hashes to", () => {
    expect(queues).toEqual([env.STEPS, env.STEPS_1]);
    const ids = Array.from({ length: 400 }, () => `run_${uniq()}${uniq()}`);
    const onFirst = ids.filter((id) => stepQueueFor(env, id) === env.STEPS);
    for (const id of ids) expect(stepQueueFor(env, id)).toBe(queues[fnv1a32(id) % 2]);
    // Spread: each queue gets a fair share (a binomial's 400 draws land far inside these bounds).
    expect(onFirst.length).toBeGreaterThan(140);
    expect(onFirst.length).toBeLessThan(260);
  });

  it("runs a queued step on either queue: every queue has its consumer", async () => {
    const done = new Set<number>();
    for (let i = 0; i < 40 && done.size < 2; i++) {
      const run = await createRun(queuedPlan);
      const queue = fnv1a32(run.run_id) % 2;
      if (done.has(queue)) continue;
      await vi.waitFor(async () => expect((await getRun(run.run_id, DEV_KEY)).status).toBe("completed"), SETTLE);
      done.add(queue);
    }
    expect([...done].sort()).toEqual([0, 1]);
  });

  it("refuses a count that does not match the bindings, and /health says so", async () => {
    const tooMany = { ...env, STEP_QUEUE_SHARDS: "3" } as Env;
    expect(() => stepQueueFor(tooMany, "run_x")).toThrow(StepQueueConfigError);
    expect(() => allStepQueues(tooMany)).toThrow(/no queue producer STEPS_2/);
    // Fewer than the bindings: a queue nothing would ever be sent to.
    expect(() => allStepQueues({ ...env, STEP_QUEUE_SHARDS: "1" } as Env)).toThrow(/STEPS_1 exists/);
    expect(() => allStepQueues({ ...env, STEP_QUEUE_SHARDS: "two" } as Env)).toThrow(/whole number/);
    const broken = await health(tooMany);
    expect(broken.status).toBe(503);
    expect(broken.body.checks.queue).toBe("failing");
    const ok = await health(env);
    expect(ok.body.checks.queue).toBe("ok");
    // The backlog is both queues' together.
    expect(ok.body.queue?.backlog_count).toBeGreaterThanOrEqual(0);
  });
});
