import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import worker from "../../src/index";
import type { RunEvent } from "../../src/durable/run-events";
import type { StepMessage } from "../../src/queues/step-message";
import { DEV_TENANT } from "../../src/auth/api-keys";

/**
 * In the "held" project the run objects' step messages go to a queue nobody consumes; these
 * helpers play the queue: they deliver what the run object queued, as often and in whatever
 * order a test wants, through the Worker's real queue handler.
 */
let delivery = 0;

export async function deliver(...messages: StepMessage[]) {
  const batch = createMessageBatch<StepMessage>(
    "crane-steps",
    messages.map((body) => ({ id: `msg-${++delivery}`, timestamp: new Date(), attempts: 1, body })),
  );
  const ctx = createExecutionContext();
  await worker.queue(batch as MessageBatch<unknown>, env);
  return getQueueResult(batch, ctx);
}

export async function events(runId: string): Promise<RunEvent[]> {
  const page = (await env.RUNS.getByName(runId).listEvents(DEV_TENANT, 0, 1000)) as { events: RunEvent[] } | null;
  return page?.events ?? [];
}

/** The messages the run object has sent so far (step.queued and step.redispatched), in order. */
export async function sentMessages(runId: string): Promise<StepMessage[]> {
  return (await events(runId))
    .filter((e) => e.type === "step.queued" || e.type === "step.redispatched")
    .map((e) => {
      const d = e.data as { step: number; attempt: number };
      return { run_id: runId, tenant: DEV_TENANT, step: d.step, attempt: d.attempt };
    });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function stub(runId: string) {
  return env.RUNS.getByName(runId);
}

export async function eventTypes(runId: string): Promise<string[]> {
  return (await events(runId)).map((e) => e.type);
}
