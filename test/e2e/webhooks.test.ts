import type { Server } from "node:http";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { LOCAL_ADMIN_TOKEN, LOCAL_API_KEY } from "../../scripts/local-runtime.ts";
import { receiverUrl, startReceiver, type Received } from "../webhooks/receiver.ts";
import { expectConformingTraffic } from "./conformance.ts";
import { e2ePortBase } from "./ports.ts";

// Webhooks under a real `wrangler dev`: runs end, and a local receiver gets their ends signed,
// with real alarms pacing the retries. Each delivery is checked with the standardwebhooks
// library's verifier, as a receiver would.
const url = inject("craneUrl");
// A tenant of its own: a subscription hears every run end of its tenant, and runs other files left
// going (a schedule's occurrence, a CLI run) must not reach this test's receiver.
let headers = { authorization: `Bearer ${LOCAL_API_KEY}`, "content-type": "application/json" };
let server: Server;
let receiver: string;
let webhookId: string | undefined;

const call = async <T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> => {
  const res = await fetch(`${url}/api/v1${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  return { status: res.status, body: (res.status === 204 ? null : await res.json()) as T };
};

async function receivedBy(key: string, n: number): Promise<Received[]> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const got = (await (await fetch(`${receiver}/received/${key}`)).json()) as Received[];
    if (got.length >= n || Date.now() > deadline) return got;
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  // base + 5: past the runtime, the conformance proxy and the restart test's runtime.
  server = await startReceiver(e2ePortBase() + 5);
  receiver = receiverUrl(server);
  const res = await fetch(`${url}/api/v1/admin/keys`, {
    method: "POST",
    headers: { authorization: `Bearer ${LOCAL_ADMIN_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "webhooks e2e", tenant: `webhooks-${Date.now()}` }),
  });
  expect(res.status).toBe(201);
  const { secret } = (await res.json()) as { secret: string };
  headers = { ...headers, authorization: `Bearer ${secret}` };
});

afterAll(async () => {
  // What the webhook routes answered through the proxy is what the OpenAPI document promises.
  await expectConformingTraffic(6);
  if (webhookId) await call("DELETE", `/webhooks/${webhookId}`);
  await new Promise((resolve) => server.close(resolve));
});

describe("webhooks under wrangler dev", () => {
  it("calls a subscription and a run's own webhook when runs end, signed, retrying a failure with the same webhook-id", async () => {
    const sub = await call<{ webhook_id: string; secret: string }>("POST", "/webhooks", {
      url: `${receiver}/hook/e2e-sub?fail=1`,
      events: ["run.completed", "run.failed"],
    });
    expect(sub.status).toBe(201);
    webhookId = sub.body.webhook_id;
    const signing = await call<{ secret: string }>("POST", "/webhooks/signing-secret");
    expect(signing.status).toBe(200);

    const calc = await call<{ run_id: string }>("POST", "/runs?wait=10", { prompt: "calculate 6 * 7" });
    const todo = await call<{ run_id: string; status: string }>("POST", "/runs?wait=10", { prompt: "add a todo to check the webhook e2e" });
    const failing = await call<{ run_id: string }>("POST", "/runs?wait=10", {
      plan: { steps: [{ step_number: 1, tool: "Calculator.evaluate", input: { expression: "1/0" } }] },
      webhook: { url: `${receiver}/hook/e2e-run` },
    });
    expect([calc.status, todo.status, failing.status]).toEqual([201, 201, 201]);
    expect(todo.body.status).toBe("completed");

    // Three run ends, one of which first met a 503 and was tried again (the alarm, 5 s later).
    const got = await receivedBy("e2e-sub", 4);
    expect(got).toHaveLength(4);
    const bodies = got.map((r) => new Webhook(sub.body.secret).verify(r.body, r.headers) as { type: string; data: { run: { run_id: string } } });
    const ends = new Map(bodies.map((b) => [b.data.run.run_id, b.type]));
    expect(ends).toEqual(
      new Map([
        [calc.body.run_id, "run.completed"],
        [todo.body.run_id, "run.completed"],
        [failing.body.run_id, "run.failed"],
      ]),
    );
    expect(new Set(got.map((r) => r.headers["webhook-id"])).size).toBe(3);
    // The first request met the 503; its delivery came again under the same webhook-id.
    expect(got.slice(1).filter((r) => r.headers["webhook-id"] === got[0]!.headers["webhook-id"])).toHaveLength(1);

    const [own] = await receivedBy("e2e-run", 1);
    expect(new Webhook(signing.body.secret).verify(own!.body, own!.headers)).toMatchObject({
      type: "run.failed",
      data: { run: { run_id: failing.body.run_id } },
    });

    const deliveries = await call<{ deliveries: { status: string; attempts: { status_code: number }[] }[] }>("GET", `/webhooks/${webhookId}/deliveries`);
    expect(deliveries.body.deliveries.map((d) => d.status)).toEqual(["delivered", "delivered", "delivered"]);
    expect(deliveries.body.deliveries.flatMap((d) => d.attempts.map((a) => a.status_code)).sort()).toEqual([204, 204, 204, 503]);
  });
});
