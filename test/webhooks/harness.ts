// What the webhook tests share: a tenant with its key, subscribing, starting runs, what the local
// receiver got, the deliveries API, and playing the webhook queue (delivering its messages
// through the Worker's queue handler, as the queue would, and retries when the clock says).
import { createExecutionContext, createMessageBatch, getQueueResult, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { Webhook } from "standardwebhooks";
import { expect, inject, vi } from "vitest";
import worker from "../../src/index";
import type { RetryMessage, WebhookBody } from "../../src/durable/webhooks/notice";
import type { DeliveryView, WebhookOutbox } from "../../src/durable/webhooks/webhook-outbox";
import type { RunResource } from "../../src/durable/run/run-view";
import { api, newApiKey, SETTLE, uniq } from "../helpers";
import type { Received } from "./receiver";

export const receiver = inject("receiverUrl");
export const calc = { prompt: "calculate 6 * 7" };
export const failing = { plan: { steps: [{ step_number: 1, tool: "Calculator.evaluate", input: { expression: "1/0" } }] } };
export const approval = { plan: { steps: [{ step_number: 1, tool: "Human.approve", input: { message: "Ship it?", timeout_seconds: 3600 } }] } };

export async function tenant(): Promise<{ tenant: string; key: string }> {
  const name = `wh-${uniq()}`;
  return { tenant: name, key: (await newApiKey(name)).secret };
}

export async function subscribe(key: string, url: string, events: string[]): Promise<{ webhook_id: string; secret: string }> {
  const res = await api("/webhooks", { method: "POST", json: { url, events }, key });
  const body = (await res.json()) as { webhook_id: string; secret: string };
  expect(res.status, JSON.stringify(body)).toBe(201);
  return body;
}

export async function startRun(key: string, body: unknown): Promise<RunResource> {
  const res = await api("/runs", { method: "POST", json: body, key });
  const run = (await res.json()) as RunResource;
  expect(res.status, JSON.stringify(run)).toBe(201);
  return run;
}

/** What the receiver got for `path`'s key, once it has at least `n` requests (polled: the queue's consumer sends in its own time). */
export async function received(key: string, n = 0): Promise<Received[]> {
  return vi.waitFor(async () => {
    const got = (await (await fetch(`${receiver}/received/${key}`)).json()) as Received[];
    expect(got.length, `requests the receiver got for ${key}`).toBeGreaterThanOrEqual(n);
    return got;
  }, SETTLE);
}

export const outbox = (name: string) => env.WEBHOOKS.getByName(name);

let delivered = 0;

/** Delivers webhook queue messages through the Worker's queue handler, as the queue would. */
export async function deliver(...messages: unknown[]) {
  const batch = createMessageBatch(
    "crane-webhooks",
    messages.map((body) => ({ id: `wh-msg-${++delivered}`, timestamp: new Date(), attempts: 1, body })),
  );
  const ctx = createExecutionContext();
  await worker.queue(batch as MessageBatch<unknown>, env);
  return getQueueResult(batch, ctx);
}

/**
 * Moves the outbox's clock `ms` ahead of real time and delivers the retry each pending delivery
 * of the webhook waits for: the message the consumer sent with the backoff as its delay.
 */
export async function later(t: { tenant: string; key: string }, webhookId: string, ms: number): Promise<void> {
  await runInDurableObject(outbox(t.tenant), (o: WebhookOutbox) => {
    o.clock = () => Date.now() + ms;
  });
  const pending = (await deliveries(t.key, webhookId)).filter((d) => d.status === "pending");
  const retries = pending.map((d): RetryMessage => ({ kind: "retry", tenant: t.tenant, delivery_id: d.delivery_id, attempt: d.attempts.length + 1 }));
  if (retries.length > 0) expect((await deliver(...retries)).explicitAcks).toHaveLength(retries.length);
}

export async function deliveries(key: string, id: string): Promise<DeliveryView[]> {
  const res = await api(`/webhooks/${id}/deliveries`, { key });
  expect(res.status).toBe(200);
  return ((await res.json()) as { deliveries: DeliveryView[] }).deliveries;
}

/** How long the outbox waits after attempt `i` ended before the next. */
export const waitAfter = (d: DeliveryView, i: number) => Date.parse(d.next_attempt_at!) - (Date.parse(d.attempts[i]!.at) + d.attempts[i]!.duration_ms);

/** Verifies with the library's verifier (which also checks the timestamp is within 5 minutes) and returns the body. */
export const verified = (secret: string, r: Received) => new Webhook(secret).verify(r.body, r.headers) as WebhookBody;
