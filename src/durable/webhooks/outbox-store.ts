// The webhook outbox's SQLite: a tenant's subscriptions, its run-webhook signing secret, and one
// row per delivery (the webhook-id is its key) with its attempts as JSON, so an attempt is one
// row written. Pending rows are the outbox's due work; the alarm serves them in order of
// next_attempt_at.
import type { Verdict } from "./delivery-policy";
import type { WebhookEventType } from "./notice";

/** Bumped when the tables change; each version's statements are idempotent. */
const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS subscriptions (id TEXT PRIMARY KEY, url TEXT NOT NULL, events TEXT NOT NULL, secret TEXT NOT NULL, created_at TEXT NOT NULL) WITHOUT ROWID`,
  `CREATE TABLE IF NOT EXISTS tenant (id INTEGER PRIMARY KEY CHECK (id = 1), name TEXT NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS run_secret (id INTEGER PRIMARY KEY CHECK (id = 1), secret TEXT NOT NULL, created_at TEXT NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS deliveries (
     id TEXT PRIMARY KEY, subscription_id TEXT, url TEXT NOT NULL, type TEXT NOT NULL, run_id TEXT NOT NULL, body TEXT NOT NULL,
     status TEXT NOT NULL, next_attempt_at INTEGER, attempts TEXT NOT NULL, reason TEXT, created_at INTEGER NOT NULL)`,
  `CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (status, next_attempt_at)`,
  `CREATE INDEX IF NOT EXISTS deliveries_by_subscription ON deliveries (subscription_id, created_at)`,
];

export interface Subscription {
  id: string;
  url: string;
  events: WebhookEventType[];
  secret: string;
  created_at: string;
}

export type DeliveryStatus = "pending" | "delivered" | "failed" | "cancelled";

export interface Attempt {
  attempt: number;
  at: string;
  status_code: number | null;
  duration_ms: number;
  error: string | null;
}

export interface Delivery {
  id: string;
  subscription_id: string | null;
  url: string;
  type: WebhookEventType;
  run_id: string;
  body: string;
  status: DeliveryStatus;
  next_attempt_at: number | null;
  attempts: Attempt[];
  reason: string | null;
  created_at: number;
}

type SubscriptionRow = { id: string; url: string; events: string; secret: string; created_at: string };
type DeliveryRow = Omit<Delivery, "attempts"> & { attempts: string };

const subscription = (r: SubscriptionRow): Subscription => ({ ...r, events: JSON.parse(r.events) as WebhookEventType[] });
const delivery = (r: DeliveryRow): Delivery => ({ ...r, attempts: JSON.parse(r.attempts) as Attempt[] });

export class OutboxStore {
  constructor(private readonly sql: SqlStorage) {
    for (const statement of SCHEMA) sql.exec(statement);
  }

  subscriptions(): Subscription[] {
    return this.sql.exec<SubscriptionRow>(`SELECT * FROM subscriptions ORDER BY created_at, id`).toArray().map(subscription);
  }

  subscription(id: string): Subscription | undefined {
    const row = this.sql.exec<SubscriptionRow>(`SELECT * FROM subscriptions WHERE id = ?`, id).toArray()[0];
    return row && subscription(row);
  }

  addSubscription(s: Subscription): void {
    this.sql.exec(
      `INSERT INTO subscriptions (id, url, events, secret, created_at) VALUES (?, ?, ?, ?, ?)`,
      s.id,
      s.url,
      JSON.stringify(s.events),
      s.secret,
      s.created_at,
    );
  }

  /** Removes a subscription; its deliveries still pending are cancelled (their history stays). */
  removeSubscription(id: string, reason: string): boolean {
    const removed = this.sql.exec(`DELETE FROM subscriptions WHERE id = ?`, id).rowsWritten > 0;
    if (removed)
      this.sql.exec(
        `UPDATE deliveries SET status = 'cancelled', next_attempt_at = NULL, reason = ? WHERE subscription_id = ? AND status = 'pending'`,
        reason,
        id,
      );
    return removed;
  }

  /** The tenant this outbox serves, kept so the alarm can tell its limiter of a 410's unsubscription. */
  tenant(): string | undefined {
    return this.sql.exec<{ name: string }>(`SELECT name FROM tenant WHERE id = 1`).toArray()[0]?.name;
  }

  setTenant(name: string): void {
    if (this.tenant() !== name) this.sql.exec(`INSERT OR REPLACE INTO tenant (id, name) VALUES (1, ?)`, name);
  }

  runSecret(): string | undefined {
    return this.sql.exec<{ secret: string }>(`SELECT secret FROM run_secret WHERE id = 1`).toArray()[0]?.secret;
  }

  setRunSecret(secret: string, at: string): void {
    this.sql.exec(`INSERT OR REPLACE INTO run_secret (id, secret, created_at) VALUES (1, ?, ?)`, secret, at);
  }

  /** Adds a delivery unless one with its id exists (a repeated handoff of the same milestone). */
  addDelivery(d: Omit<Delivery, "attempts" | "reason" | "status">): boolean {
    return (
      this.sql.exec(
        `INSERT OR IGNORE INTO deliveries (id, subscription_id, url, type, run_id, body, status, next_attempt_at, attempts, created_at)
         VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, '[]', ?)`,
        d.id,
        d.subscription_id,
        d.url,
        d.type,
        d.run_id,
        d.body,
        d.next_attempt_at,
        d.created_at,
      ).rowsWritten > 0
    );
  }

  due(now: number, limit: number): Delivery[] {
    return this.sql
      .exec<DeliveryRow>(`SELECT * FROM deliveries WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?`, now, limit)
      .toArray()
      .map(delivery);
  }

  nextDue(): number | null {
    return this.sql.exec<{ t: number | null }>(`SELECT min(next_attempt_at) AS t FROM deliveries WHERE status = 'pending'`).one().t;
  }

  get(id: string): Delivery | undefined {
    const row = this.sql.exec<DeliveryRow>(`SELECT * FROM deliveries WHERE id = ?`, id).toArray()[0];
    return row && delivery(row);
  }

  /** Records an attempt and what follows from it, in one row write. */
  recordAttempt(d: Delivery, attempt: Attempt, verdict: Verdict): void {
    const attempts = JSON.stringify([...d.attempts, attempt]);
    const [status, next, reason]: [DeliveryStatus, number | null, string | null] =
      verdict.kind === "delivered"
        ? ["delivered", null, null]
        : verdict.kind === "retry"
          ? ["pending", verdict.at, null]
          : verdict.kind === "gone"
            ? ["cancelled", null, "the receiver answered 410 Gone"]
            : ["failed", null, verdict.reason];
    this.sql.exec(`UPDATE deliveries SET attempts = ?, status = ?, next_attempt_at = ?, reason = ? WHERE id = ?`, attempts, status, next, reason, d.id);
  }

  cancel(id: string, reason: string): void {
    this.sql.exec(`UPDATE deliveries SET status = 'cancelled', next_attempt_at = NULL, reason = ? WHERE id = ?`, reason, id);
  }

  /** A subscription's deliveries, newest first. */
  deliveriesOf(subscriptionId: string, limit: number): Delivery[] {
    return this.sql
      .exec<DeliveryRow>(`SELECT * FROM deliveries WHERE subscription_id = ? ORDER BY created_at DESC, id LIMIT ?`, subscriptionId, limit)
      .toArray()
      .map(delivery);
  }

  /** Forgets finished deliveries older than `before` (epoch ms). */
  prune(before: number): number {
    return this.sql.exec(`DELETE FROM deliveries WHERE status != 'pending' AND created_at < ?`, before).rowsWritten;
  }
}
