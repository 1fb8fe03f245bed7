// The webhook outbox's SQLite: a tenant's subscriptions, its run-webhook signing secret (with a
// version, bumped by every change, that tells the consumers' caches theirs is stale), one row per
// delivery (the webhook-id is its key) with its attempts as JSON, so an attempt is one row
// written, and each milestone's body once (delivery_bodies, keyed by run and seq), however many
// targets it has. Rows are written by the consumer's batches (src/queues/webhook-consumer.ts).
import type { Verdict } from "./delivery-policy";
import type { WebhookEventType } from "./notice";

/** Each statement is idempotent; the column added by version 2 is added when missing. */
const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS subscriptions (id TEXT PRIMARY KEY, url TEXT NOT NULL, events TEXT NOT NULL, secret TEXT NOT NULL, created_at TEXT NOT NULL) WITHOUT ROWID`,
  `CREATE TABLE IF NOT EXISTS tenant (id INTEGER PRIMARY KEY CHECK (id = 1), name TEXT NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS run_secret (id INTEGER PRIMARY KEY CHECK (id = 1), secret TEXT NOT NULL, created_at TEXT NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS deliveries (
     id TEXT PRIMARY KEY, subscription_id TEXT, url TEXT NOT NULL, type TEXT NOT NULL, run_id TEXT NOT NULL, body TEXT NOT NULL,
     status TEXT NOT NULL, next_attempt_at INTEGER, attempts TEXT NOT NULL, reason TEXT, created_at INTEGER NOT NULL)`,
  `CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (status, next_attempt_at)`,
  `CREATE INDEX IF NOT EXISTS deliveries_by_subscription ON deliveries (subscription_id, created_at)`,
  // Version 2: bodies stored once per milestone; `deliveries.body` stays '' for new rows (rows from before keep theirs).
  `CREATE TABLE IF NOT EXISTS delivery_bodies (key TEXT PRIMARY KEY, body TEXT NOT NULL, created_at INTEGER NOT NULL) WITHOUT ROWID`,
  `CREATE TABLE IF NOT EXISTS config_version (id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL)`,
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
  /** The delivery_bodies row it shares with the milestone's other targets (null on rows from before version 2). */
  body_key: string | null;
  status: DeliveryStatus;
  next_attempt_at: number | null;
  attempts: Attempt[];
  reason: string | null;
  created_at: number;
}

type SubscriptionRow = { id: string; url: string; events: string; secret: string; created_at: string };
type DeliveryRow = Omit<Delivery, "attempts"> & { attempts: string };

const subscription = (r: SubscriptionRow): Subscription => ({ ...r, events: JSON.parse(r.events) as WebhookEventType[] });
const delivery = ({ body: _body, ...r }: DeliveryRow & { body?: string }): Delivery => ({ ...r, attempts: JSON.parse(r.attempts) as Attempt[] });

export class OutboxStore {
  constructor(private readonly sql: SqlStorage) {
    for (const statement of SCHEMA) sql.exec(statement);
    if (
      !sql
        .exec<{ name: string }>(`PRAGMA table_info(deliveries)`)
        .toArray()
        .some((c) => c.name === "body_key")
    )
      sql.exec(`ALTER TABLE deliveries ADD COLUMN body_key TEXT`);
  }

  /** Changes with every change to the subscriptions or the run secret. */
  configVersion(): number {
    return this.sql.exec<{ n: number }>(`SELECT n FROM config_version WHERE id = 1`).toArray()[0]?.n ?? 0;
  }

  private bump(): void {
    this.sql.exec(`INSERT INTO config_version (id, n) VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET n = n + 1`);
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
    this.bump();
  }

  /** Removes a subscription; its deliveries still pending are cancelled (their history stays). */
  removeSubscription(id: string, reason: string): boolean {
    const removed = this.sql.exec(`DELETE FROM subscriptions WHERE id = ?`, id).rowsWritten > 0;
    if (removed) this.bump();
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
    this.bump();
  }

  /**
   * Adds a delivery unless one with its id exists (the same milestone delivered twice), and its
   * milestone's body unless another target of the milestone stored it already.
   */
  addDelivery(d: Omit<Delivery, "attempts" | "reason" | "status" | "body_key"> & { body_key: string; body: string }): void {
    this.sql.exec(`INSERT OR IGNORE INTO delivery_bodies (key, body, created_at) VALUES (?, ?, ?)`, d.body_key, d.body, d.created_at);
    this.sql.exec(
      `INSERT OR IGNORE INTO deliveries (id, subscription_id, url, type, run_id, body, body_key, status, next_attempt_at, attempts, created_at)
       VALUES (?, ?, ?, ?, ?, '', ?, 'pending', ?, '[]', ?)`,
      d.id,
      d.subscription_id,
      d.url,
      d.type,
      d.run_id,
      d.body_key,
      d.next_attempt_at,
      d.created_at,
    );
  }

  get(id: string): Delivery | undefined {
    const row = this.sql.exec<DeliveryRow>(`SELECT * FROM deliveries WHERE id = ?`, id).toArray()[0];
    return row && delivery(row);
  }

  /** A delivery with its body (from delivery_bodies, or its own column on rows from before version 2). */
  withBody(id: string): (Delivery & { body: string }) | undefined {
    const row = this.sql
      .exec<DeliveryRow & { shared: string | null; body: string }>(
        `SELECT d.*, b.body AS shared FROM deliveries d LEFT JOIN delivery_bodies b ON b.key = d.body_key WHERE d.id = ?`,
        id,
      )
      .toArray()[0];
    if (!row) return undefined;
    const { shared, body, ...rest } = row;
    return { ...delivery(rest), body: shared ?? body };
  }

  /** Pending deliveries written before version 2, which the old alarm would have attempted: handed to the queue once. */
  legacyPending(limit: number): Delivery[] {
    return this.sql
      .exec<DeliveryRow>(`SELECT * FROM deliveries WHERE status = 'pending' AND body_key IS NULL ORDER BY next_attempt_at LIMIT ?`, limit)
      .toArray()
      .map(delivery);
  }

  /** Pending deliveries (of the queue's time) whose next attempt was due before `before`: their retry message may be lost. */
  overdue(before: number, limit: number): Delivery[] {
    return this.sql
      .exec<DeliveryRow>(
        `SELECT * FROM deliveries WHERE status = 'pending' AND body_key IS NOT NULL AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?`,
        before,
        limit,
      )
      .toArray()
      .map(delivery);
  }

  /** When the earliest pending delivery's next attempt is due (null: none pending). */
  earliestDue(): number | null {
    return this.sql.exec<{ at: number | null }>(`SELECT min(next_attempt_at) AS at FROM deliveries WHERE status = 'pending'`).one().at;
  }

  /** Marks a pre-version-2 row as handed to the queue (its body stays in its own column). */
  handedToQueue(id: string): void {
    this.sql.exec(`UPDATE deliveries SET body_key = '' WHERE id = ?`, id);
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

  /** Forgets finished deliveries older than `before` (epoch ms), and bodies no delivery needs any more. */
  prune(before: number): number {
    const rows = this.sql.exec(`DELETE FROM deliveries WHERE status != 'pending' AND created_at < ?`, before).rowsWritten;
    return (
      rows +
      this.sql.exec(`DELETE FROM delivery_bodies WHERE created_at < ? AND key NOT IN (SELECT body_key FROM deliveries WHERE body_key IS NOT NULL)`, before)
        .rowsWritten
    );
  }
}
