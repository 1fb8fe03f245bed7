// What a run has cost in billable operations, counted as it happens, so the benchmark can price
// it and a user can see it (GET /runs/{id}/usage). SQLite rows are read from each statement's own
// `rowsWritten`, the number Cloudflare bills, rather than estimated.

export interface RunUsage {
  /** Requests to Durable Objects this run caused: its own commands and alarms, pre-flight checks, tenant slots. */
  do_requests: number;
  /** SQLite rows written by the run object (and the tenant limiter on its behalf). */
  storage_rows_written: number;
  /**
   * Queue messages sent: exactly one per queued step attempt, one per webhook notice (a milestone
   * someone is called about), and one per row sent to the read-model queue.
   */
  queue_messages: number;
  /** Of `queue_messages`, rows of the run in flight sent to the read-model queue (its consumer writes a batch per statement). */
  read_model_rows: number;
  /** Step attempts dispatched to the queue. */
  queued_attempts: number;
  d1_statements: number;
  d1_rows_written: number;
  /**
   * Of `do_requests`, those made to objects many runs share, by class: what bounds how far one
   * tenant, or all of them, can scale (docs/architecture.md, "Scale"). The rest went to the run's own object.
   */
  shared_requests: Partial<Record<SharedObject, number>>;
}

/**
 * The shared Durable Object classes a run's object calls on its own behalf. `webhook_outbox` was
 * one until notices went through the webhook queue; usage saved by runs of that time may still
 * name it, and GET /runs/{id}/usage shows it as saved.
 */
export type SharedObject = "tenant_limiter";

export const emptyUsage = (): RunUsage => ({
  do_requests: 0,
  storage_rows_written: 0,
  queue_messages: 0,
  read_model_rows: 0,
  queued_attempts: 0,
  d1_statements: 0,
  d1_rows_written: 0,
  shared_requests: {},
});

export class UsageMeter {
  constructor(public usage: RunUsage = emptyUsage()) {}

  /** One billed request to a Durable Object: this one, or (`to`) a shared one on the run's behalf. */
  request(rowsWritten = 0, to?: SharedObject): void {
    this.usage.do_requests += 1;
    this.usage.storage_rows_written += rowsWritten;
    if (to) this.usage.shared_requests[to] = (this.usage.shared_requests[to] ?? 0) + 1;
  }

  /** A statement run on this object's SQLite. */
  wrote<C extends { readonly rowsWritten: number }>(cursor: C): C {
    this.usage.storage_rows_written += cursor.rowsWritten;
    return cursor;
  }

  /** Queue messages that are no step attempt: a webhook notice. */
  sent(messages = 1): void {
    this.usage.queue_messages += messages;
  }

  queued(messages: number): void {
    this.usage.queue_messages += messages;
    this.usage.queued_attempts += messages;
  }

  /** A row of the run in flight, sent to the read-model queue. */
  rowQueued(): void {
    this.usage.queue_messages += 1;
    this.usage.read_model_rows += 1;
  }

  d1(cost: { statements: number; rows_written: number }): void {
    this.usage.d1_statements += cost.statements;
    this.usage.d1_rows_written += cost.rows_written;
  }

  /** Usage saved before the `queued_attempts` counter existed has none. */
  static restore(saved: Partial<RunUsage>): UsageMeter {
    return new UsageMeter({
      ...emptyUsage(),
      ...saved,
      queued_attempts: saved.queued_attempts ?? saved.queue_messages ?? 0,
      shared_requests: { ...saved.shared_requests },
    });
  }
}
