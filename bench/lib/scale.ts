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
 * - The step queue is one queue for everyone: its messages bound one tenant and all of them alike.
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
  d1_statements: number;
  d1_rows_written: number;
  queue_messages: number;
}

/** How many objects of a class one tenant's runs spread over (absent: 1). */
export type Spread = Record<string, number>;

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

export function ceilings(c: WorkloadCounts, spread: Spread, limits: Limits = LIMITS, shards: readonly number[] = SHARD_COUNTS): Ceilings {
  const per_object = perObject(c, spread);
  const hot = Object.entries(per_object).sort((a, b) => b[1] - a[1])[0];
  const shared = Object.entries(per_object).map(([cls, n]) => ({ by: cls, limit: limits.do_requests, per_run: n }));
  const queue = { by: "queue", limit: limits.queue_messages, per_run: c.queue_messages };
  // One tenant's rows are on one shard: N does not raise its D1 ceiling.
  const per_tenant = tightest([...shared, { by: "d1", limit: limits.d1_statements, per_run: c.d1_statements }, queue]);
  const total = Object.fromEntries(shards.map((n) => [n, tightest([{ by: "d1", limit: n * limits.d1_statements, per_run: c.d1_statements }, queue])]));
  return { workload: c.workload, per_object, hottest: hot && hot[1] > 0 ? { class: hot[0], requests_per_run: hot[1] } : null, per_tenant, total };
}

export interface Needs {
  workload: string;
  runs_per_s: number;
  /** Objects of each shared class one tenant needs at that rate (for the limiter: K). */
  objects: Record<string, number>;
  /** D1 shards for that rate over all tenants. */
  shards: number;
  /** Queues for that rate (1 is the one queue there is). */
  queues: number;
  /** Whether one tenant alone can run at that rate: its rows are on one shard, whatever N. */
  one_tenant: Bound & { reachable: boolean };
}

/** What a target rate needs: how many objects of each class, shards and queues. */
export function needs(c: WorkloadCounts, spread: Spread, runsPerS: number, limits: Limits = LIMITS): Needs {
  const objects = Object.fromEntries(Object.entries(c.shared).map(([cls, n]) => [cls, Math.max(1, Math.ceil((runsPerS * n) / limits.do_requests))]));
  const shards = Math.max(1, Math.ceil((runsPerS * c.d1_statements) / limits.d1_statements));
  const queues = Math.max(1, Math.ceil((runsPerS * c.queue_messages) / limits.queue_messages));
  const perTenant = ceilings(c, spread, limits, []).per_tenant;
  return { workload: c.workload, runs_per_s: runsPerS, objects, shards, queues, one_tenant: { ...perTenant, reachable: perTenant.runs_per_s >= runsPerS } };
}
