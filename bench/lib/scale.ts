/**
 * The scale model (issue 33): from what one run of a workload asks of each class of object, the
 * rate at which runs can arrive before some shared object or database reaches Cloudflare's
 * published limit. Pure arithmetic over measured counts (bench/lib/scale-measure.ts measures
 * them), so a unit test can check every ceiling on known numbers.
 *
 * The model:
 * - A run's own objects (its run object, a child's run object) are not shared: their requests
 *   set no ceiling on how many runs there are.
 * - A shared class (tenant_limiter, webhook_outbox, tool_breaker, or any class a run reports in
 *   `usage.shared_requests`) has some number of objects per tenant that the tenant's runs spread
 *   over evenly (the limiter's K slot shards; one of anything else unless configured), so one
 *   object of it sees requests-per-run ÷ objects-per-tenant of each run. Every tenant has its own,
 *   so these bound one tenant, not all of them together.
 * - A tenant's read-model rows live on one of N D1 shards: its D1 statements bound one tenant at
 *   one database's rate whatever N is, and all tenants together at N databases' rate (tenants
 *   spread evenly over shards by their hash; many tenants).
 * - The step queues (STEP_QUEUE_SHARDS, the spread of class "step_queue") are shared by everyone,
 *   each run's messages on one of them by its id: their messages bound one tenant and all of them
 *   alike, at that many queues' rate.
 * - Webhook notices go through the webhook queues (WEBHOOK_QUEUE_SHARDS, the spread of class
 *   "webhook_queue"), each run's on one of them by its id: they bound one tenant and all alike.
 * - Rows of runs in flight go through the read-model queues (READ_MODEL_QUEUE_SHARDS, the spread
 *   of class "read_model_queue", each run's rows on one of them by its id, so they bound one
 *   tenant and all alike), whose consumer writes each batch in one statement per shard: at the
 *   ceiling batches are full (READ_MODEL_BATCH rows), so such a row costs its shard
 *   1/READ_MODEL_BATCH of a statement, and with N shards a batch costs up to
 *   min(N, READ_MODEL_BATCH) statements in all.
 * - With READ_MODEL_END_ROWS = "queued" a run's own statement (its end row) becomes one more
 *   queued row (endsQueued): what lifts one tenant past its one D1 shard.
 */

/** Cloudflare's published limits, per second. */
export const LIMITS = {
  /** A Durable Object: a soft limit of about 1,000 requests a second (one object is single-threaded). */
  do_requests: 1000,
  /** One D1 database: single-threaded, about 1,000 queries a second for queries of ~1 ms. */
  d1_statements: 1000,
  /** One queue: 5,000 messages a second (Queues' per-queue message throughput). */
  queue_messages: 5000,
} as const;
export type Limits = { [K in keyof typeof LIMITS]: number };

export const SHARD_COUNTS = [1, 4, 16] as const;

/** Rows in a full read-model batch: wrangler.toml's max_batch_size for crane-read-model. */
export const READ_MODEL_BATCH = 100;

/** The design Crane comes from: its Phase 3 target, and issue 33's ten times that. */
export const TARGETS = [
  { name: "Phase 3 target (500 runs/s at p99 40 ms)", runs_per_s: 500 },
  { name: "issue 33 target (10×: 5,000 runs/s)", runs_per_s: 5000 },
] as const;

/** What one run of a workload asked of each class, averaged over the sampled runs. */
export interface WorkloadCounts {
  workload: string;
  /** What one "run" of this row is (a run, a parent and its child, a model call of an agent). */
  unit: string;
  samples: number;
  /** Requests to the run's own objects (its run object, and a child's). */
  own_requests: number;
  /** Requests to shared objects, by class: all of the tenant's objects of that class together. */
  shared: Record<string, number>;
  /** Statements the run wrote to D1 itself (its end row). */
  d1_statements: number;
  d1_rows_written: number;
  /** Every queue message, the read-model rows among them. */
  queue_messages: number;
  /** Rows sent to the read-model queue (absent: none). */
  read_model_rows?: number;
  /** Step attempts sent to the step queues (absent: every message but the queued rows); the rest are webhook notices. */
  queued_attempts?: number;
}

/**
 * How many objects of a class one tenant's runs spread over (absent: 1); `step_queue`: the step
 * queues all runs spread over; `webhook_queue`: the webhook queues tenants spread over.
 */
export type Spread = Record<string, number>;

/** The spread key for the step queues (STEP_QUEUE_SHARDS): not a Durable Object class, a count of queues. */
export const STEP_QUEUE = "step_queue";
/** The spread key for the webhook queues (WEBHOOK_QUEUE_SHARDS): a count of queues, runs spread over them by id. */
export const WEBHOOK_QUEUE = "webhook_queue";
/** The spread key for the read-model queues (READ_MODEL_QUEUE_SHARDS): a count of queues, runs spread over them by id. */
export const READ_MODEL_QUEUE = "read_model_queue";

/** The kinds of queue a run's messages go to, as the bounds and the needs name them. */
export const QUEUE_KINDS = ["step", "webhook", "read-model"] as const;
export type QueueKind = (typeof QUEUE_KINDS)[number];

export interface Bound {
  runs_per_s: number;
  /** What sets it: a shared class, "d1" or "queue"; "none" when nothing does. */
  by: string;
}

export interface Ceilings {
  workload: string;
  /** Requests per run to one object of each shared class. */
  per_object: Record<string, number>;
  hottest: { class: string; requests_per_run: number } | null;
  /** One tenant's runs a second before a shared object, its D1 shard or the queue is at its limit. */
  per_tenant: Bound;
  /** The same with READ_MODEL_END_ROWS = "queued" (endsQueued). */
  per_tenant_ends_queued: Bound;
  /** All tenants' runs a second, by shard count. */
  total: Record<number, Bound>;
}

const objectsOf = (spread: Spread, cls: string) => Math.max(1, spread[cls] ?? 1);

/** Requests per run that one object of each class sees. */
export function perObject(c: WorkloadCounts, spread: Spread): Record<string, number> {
  return Object.fromEntries(Object.entries(c.shared).map(([cls, n]) => [cls, n / objectsOf(spread, cls)]));
}

/** The tightest of several bounds (a zero count sets none). */
function tightest(candidates: { by: string; limit: number; per_run: number }[]): Bound {
  let best: Bound = { runs_per_s: Infinity, by: "none" };
  for (const { by, limit, per_run } of candidates) {
    if (per_run <= 0) continue;
    const r = limit / per_run;
    if (r < best.runs_per_s) best = { runs_per_s: r, by };
  }
  return best;
}

const queuedRows = (c: WorkloadCounts) => c.read_model_rows ?? 0;

/** D1 statements per run over `n` shards: its own, and its rows' share of full read-model batches (a batch is a statement on each shard it touches). */
export function d1PerRun(c: WorkloadCounts, n: number): number {
  return c.d1_statements + (queuedRows(c) * Math.min(n, READ_MODEL_BATCH)) / READ_MODEL_BATCH;
}

/** A run's messages to each kind of queue. */
function queueMessages(c: WorkloadCounts): Record<QueueKind, number> {
  const steps = c.queued_attempts ?? c.queue_messages - queuedRows(c);
  return { step: steps, webhook: c.queue_messages - queuedRows(c) - steps, "read-model": queuedRows(c) };
}

/**
 * Each queue's bound: the step queues' (runs spread over `step_queue` of them), the webhook
 * queues' (notices of a subscribed tenant's runs, spread over `webhook_queue` of them) and the
 * read-model queues' (runs spread over `read_model_queue` of them). Every series is spread by run
 * id, so one tenant and all tenants meet the same queue bounds.
 */
function queueBounds(c: WorkloadCounts, spread: Spread, limits: Limits) {
  const m = queueMessages(c);
  return [
    { by: "queue", limit: limits.queue_messages * objectsOf(spread, STEP_QUEUE), per_run: m.step },
    { by: "webhook queue", limit: limits.queue_messages * objectsOf(spread, WEBHOOK_QUEUE), per_run: m.webhook },
    { by: "read-model queue", limit: limits.queue_messages * objectsOf(spread, READ_MODEL_QUEUE), per_run: m["read-model"] },
  ];
}

export function ceilings(c: WorkloadCounts, spread: Spread, limits: Limits = LIMITS, shards: readonly number[] = SHARD_COUNTS): Ceilings {
  const per_object = perObject(c, spread);
  const hot = Object.entries(per_object).sort((a, b) => b[1] - a[1])[0];
  const shared = Object.entries(per_object).map(([cls, n]) => ({ by: cls, limit: limits.do_requests, per_run: n }));
  // One tenant's rows are on one shard: N does not raise its D1 ceiling.
  const per_tenant = oneTenant(c, shared, spread, limits);
  const all = queueBounds(c, spread, limits);
  const total = Object.fromEntries(shards.map((n) => [n, tightest([{ by: "d1", limit: n * limits.d1_statements, per_run: d1PerRun(c, n) }, ...all])]));
  return {
    workload: c.workload,
    per_object,
    hottest: hot && hot[1] > 0 ? { class: hot[0], requests_per_run: hot[1] } : null,
    per_tenant,
    per_tenant_ends_queued: oneTenant(endsQueued(c), shared, spread, limits),
    total,
  };
}

/** One tenant's bound: its shared objects, its one D1 shard (its batches hold its rows alone: one statement each) and the queues. */
function oneTenant(c: WorkloadCounts, shared: { by: string; limit: number; per_run: number }[], spread: Spread, limits: Limits): Bound {
  return tightest([...shared, { by: "d1", limit: limits.d1_statements, per_run: d1PerRun(c, 1) }, ...queueBounds(c, spread, limits)]);
}

/**
 * The counts with READ_MODEL_END_ROWS = "queued": each statement a run wrote itself (its end row)
 * is a row on its read-model queue instead, one message more. The rows written are the same.
 */
export function endsQueued(c: WorkloadCounts): WorkloadCounts {
  return { ...c, d1_statements: 0, read_model_rows: queuedRows(c) + c.d1_statements, queue_messages: c.queue_messages + c.d1_statements };
}

export interface Needs {
  workload: string;
  runs_per_s: number;
  /** Objects of each shared class one tenant needs at that rate (for the limiter: K). */
  objects: Record<string, number>;
  /** D1 shards for that rate over all tenants. */
  shards: number;
  /** Queues of each kind for that rate over all tenants (at least 1 each). */
  queues: Record<QueueKind, number>;
  /** Whether one tenant alone can run at that rate: its rows are on one shard, whatever N. */
  one_tenant: Bound & { reachable: boolean };
  /** The same with READ_MODEL_END_ROWS = "queued". */
  one_tenant_ends_queued: Bound & { reachable: boolean };
}

/** What a target rate needs: how many objects of each class, shards and queues. */
export function needs(c: WorkloadCounts, spread: Spread, runsPerS: number, limits: Limits = LIMITS): Needs {
  const objects = Object.fromEntries(Object.entries(c.shared).map(([cls, n]) => [cls, Math.max(1, Math.ceil((runsPerS * n) / limits.do_requests))]));
  // Each shard takes its share of the runs' own statements plus one statement per full batch of queued rows.
  const batchLoad = (runsPerS * queuedRows(c)) / READ_MODEL_BATCH;
  const room = limits.d1_statements - batchLoad;
  const shards = room > 0 ? Math.max(1, Math.ceil((runsPerS * c.d1_statements) / room)) : Infinity;
  // Queues of each kind the rate needs, one queue's rate each (STEP_QUEUE_SHARDS' and WEBHOOK_QUEUE_SHARDS' need).
  const m = queueMessages(c);
  const queues = Object.fromEntries(QUEUE_KINDS.map((k) => [k, Math.max(1, Math.ceil((runsPerS * m[k]) / limits.queue_messages))])) as Record<
    QueueKind,
    number
  >;
  const { per_tenant, per_tenant_ends_queued } = ceilings(c, spread, limits, []);
  const reach = (b: Bound) => ({ ...b, reachable: b.runs_per_s >= runsPerS });
  return {
    workload: c.workload,
    runs_per_s: runsPerS,
    objects,
    shards,
    queues,
    one_tenant: reach(per_tenant),
    one_tenant_ends_queued: reach(per_tenant_ends_queued),
  };
}
