/**
 * The soak's webhook receiver (--webhooks): a local HTTP server that tenants subscribe to through
 * the public API (POST /api/v1/webhooks), so the chaos runs with webhooks subscribed. It checks
 * each delivery's Standard Webhooks signature with the subscription's secret, records it by its
 * webhook-id, and refuses (503) the first attempt of every REFUSE_EVERY-th delivery, so retries
 * happen too. After the soak it checks, by the public API and the wire only (nothing of how
 * Crane delivers: an outbox, a queue):
 * - every ended run's end event, where its tenant subscribed to it, arrived at least once with a
 *   2xx answer (a delivery id received again, or a second delivery for the same event, is allowed
 *   and counted);
 * - no delivery arrived for an event type its subscription does not name, nor with a bad signature;
 * - every delivery GET /webhooks/{id}/deliveries calls delivered (its newest 100) was received.
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook } from "standardwebhooks";
import { z } from "zod";

/** One delivery in every this many has its first attempt refused with a 503. */
const REFUSE_EVERY = 5;

const bodySchema = z.object({ type: z.string(), data: z.object({ run: z.object({ run_id: z.string(), status: z.string() }) }) });
const createdSchema = z.object({ webhook_id: z.string(), secret: z.string(), events: z.array(z.string()) });
const deliveriesSchema = z.object({ deliveries: z.array(z.object({ delivery_id: z.string(), status: z.string(), type: z.string(), run_id: z.string() })) });
const runSchema = z.object({ status: z.string() });

interface Subscription {
  webhook_id: string;
  secret: string;
  events: ReadonlySet<string>;
  auth: Record<string, string>;
}

interface Received {
  subscription: string;
  type: string;
  run_id: string;
  /** Attempts answered 2xx (more than one: the same delivery received again). */
  accepted: number;
  refused: number;
}

export interface WebhookCounts {
  webhook_subscriptions: number;
  webhook_events_expected: number;
  webhook_events_delivered: number;
  webhook_events_missing: number;
  webhook_deliveries_received: number;
  webhook_deliveries_refused_once: number;
  /** The same delivery id answered 2xx more than once: allowed (at-least-once), counted. */
  webhook_duplicate_receipts: number;
  /** More than one delivery id for the same run and event: allowed, counted. */
  webhook_extra_deliveries: number;
  webhook_unsubscribed_types: number;
  webhook_bad_signatures: number;
  webhook_api_delivered_not_received: number;
}

const keyOf = (auth: Record<string, string>) => JSON.stringify(auth);

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

export class WebhookSoak {
  private readonly subscriptions = new Map<string, Subscription>();
  private readonly received = new Map<string, Received>();
  private badSignatures = 0;
  private unknownPaths = 0;
  private seen = 0;

  private readonly server: Server;

  private constructor(server: Server) {
    this.server = server;
  }

  static async start(): Promise<WebhookSoak> {
    const server = createServer();
    const soak = new WebhookSoak(server);
    server.on("request", (req, res) => {
      soak.receive(req).then(
        (status) => res.writeHead(status).end(),
        () => res.writeHead(400).end(),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return soak;
  }

  private get base(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  private async receive(req: IncomingMessage): Promise<number> {
    const body = await readBody(req);
    const name = decodeURIComponent(new URL(req.url ?? "/", this.base).pathname.replace(/^\/hook\//, ""));
    const sub = this.subscriptions.get(name);
    if (!sub || req.method !== "POST") {
      this.unknownPaths++;
      return 404;
    }
    const header = (h: string) => String(req.headers[h] ?? "");
    const headers = { "webhook-id": header("webhook-id"), "webhook-timestamp": header("webhook-timestamp"), "webhook-signature": header("webhook-signature") };
    try {
      new Webhook(sub.secret).verify(body, headers);
    } catch {
      this.badSignatures++;
      // A 4xx ends the delivery: a bad signature is a finding, not something to retry.
      return 400;
    }
    const parsed = bodySchema.parse(JSON.parse(body));
    const id = headers["webhook-id"];
    let r = this.received.get(id);
    if (!r) {
      r = { subscription: name, type: parsed.type, run_id: parsed.data.run.run_id, accepted: 0, refused: 0 };
      this.received.set(id, r);
      if (++this.seen % REFUSE_EVERY === 0) {
        r.refused++;
        return 503;
      }
    }
    r.accepted++;
    return 204;
  }

  /** Subscribes a tenant (by its key) to `events`, delivered to this receiver. */
  async subscribe(baseUrl: string, auth: Record<string, string>, events: string[]): Promise<void> {
    const name = `t${this.subscriptions.size}`;
    const res = await fetch(`${baseUrl}/api/v1/webhooks`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ url: `${this.base}/hook/${name}`, events }),
    });
    if (res.status !== 201) throw new Error(`POST /webhooks answered ${res.status}: ${await res.text()}`);
    const created = createdSchema.parse(await res.json());
    this.subscriptions.set(name, { webhook_id: created.webhook_id, secret: created.secret, events: new Set(created.events), auth });
  }

  private subscriptionOf(auth: Record<string, string>): [string, Subscription] | undefined {
    return [...this.subscriptions.entries()].find(([, s]) => keyOf(s.auth) === keyOf(auth));
  }

  private accepted(name: string, runId: string, type: string): Received[] {
    return [...this.received.values()].filter((r) => r.subscription === name && r.run_id === runId && r.type === type && r.accepted > 0);
  }

  /**
   * Once every run has ended: waits (up to `waitMs`) until each ended run's subscribed end event
   * has been received, then checks the rest. `runs` are every run the soak made, children included.
   */
  async check(
    baseUrl: string,
    runs: readonly { run_id?: string; auth: Record<string, string> }[],
    waitMs: number,
  ): Promise<{ ok: boolean; counts: WebhookCounts; missing: string[] }> {
    const get = async <T>(path: string, auth: Record<string, string>, schema: z.ZodType<T>): Promise<T> => {
      const res = await fetch(`${baseUrl}/api/v1${path}`, { headers: auth });
      if (!res.ok) throw new Error(`GET ${path}: ${res.status}`);
      return schema.parse(await res.json());
    };
    const expected: { name: string; run_id: string; type: string }[] = [];
    for (const r of runs) {
      const sub = r.run_id ? this.subscriptionOf(r.auth) : undefined;
      if (!sub) continue;
      const { status } = await get(`/runs/${r.run_id}`, r.auth, runSchema);
      const type = `run.${status}`;
      if (["completed", "failed", "cancelled"].includes(status) && sub[1].events.has(type)) expected.push({ name: sub[0], run_id: r.run_id!, type });
    }
    const missingNow = () => expected.filter((e) => this.accepted(e.name, e.run_id, e.type).length === 0);
    const deadline = Date.now() + waitMs;
    while (missingNow().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 500));
    const missing = missingNow();

    let notReceived = 0;
    for (const s of this.subscriptions.values()) {
      const { deliveries } = await get(`/webhooks/${s.webhook_id}/deliveries?limit=100`, s.auth, deliveriesSchema);
      notReceived += deliveries.filter((d) => d.status === "delivered" && !(this.received.get(d.delivery_id)?.accepted ?? 0)).length;
    }
    const all = [...this.received.values()];
    const counts: WebhookCounts = {
      webhook_subscriptions: this.subscriptions.size,
      webhook_events_expected: expected.length,
      webhook_events_delivered: expected.length - missing.length,
      webhook_events_missing: missing.length,
      webhook_deliveries_received: all.length,
      webhook_deliveries_refused_once: all.filter((r) => r.refused > 0).length,
      webhook_duplicate_receipts: all.reduce((n, r) => n + Math.max(0, r.accepted - 1), 0),
      webhook_extra_deliveries: expected.reduce((n, e) => n + Math.max(0, this.accepted(e.name, e.run_id, e.type).length - 1), 0),
      webhook_unsubscribed_types: all.filter((r) => !this.subscriptions.get(r.subscription)?.events.has(r.type)).length + this.unknownPaths,
      webhook_bad_signatures: this.badSignatures,
      webhook_api_delivered_not_received: notReceived,
    };
    const ok =
      counts.webhook_events_expected > 0 &&
      counts.webhook_events_missing === 0 &&
      counts.webhook_unsubscribed_types === 0 &&
      counts.webhook_bad_signatures === 0 &&
      counts.webhook_api_delivered_not_received === 0;
    return { ok, counts, missing: missing.map((m) => `${m.run_id} ${m.type}`) };
  }

  close(): void {
    this.server.close();
  }
}
