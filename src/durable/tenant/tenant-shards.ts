// A tenant's cap on runs in flight, split across K TenantLimiter shards so no one object sees
// every run: a run asks the shard its id hashes to, each shard grants against its own share of the
// cap, and a full shard's run asks two other shards, picked at random on each attempt (a borrow),
// before it is refused.
//
// How exact: every shard is a serial counter that never goes past its own share, and the shares
// sum to the cap, so with K unchanged the tenant never has more than `cap` slots taken, for any K
// and under any concurrency (a borrow is granted by the lending shard against its own share, never
// counted twice). The price is the other way: a run is refused when the three shards it asked are
// full though another shard may have room (about 82 of 100 slots taken at the first refusal with
// K = 16, by simulation). The borrowed shards are drawn again on every attempt, so a run retried
// with the same id (an Idempotency-Key) is not turned away for good while its tenant has room
// anywhere: each retry asks two of the other shards afresh. With K ≤ 3 every shard is asked and
// nothing is refused early. See docs/architecture.md, "Admission".
//
// Names: shard 0 is the tenant's own name, the object that held every slot before shards, so slots
// taken before the split (and runs whose run.created names no shard) stay valid; shard i > 0 is
// `${tenant}#${i}` ('#' is not allowed in a tenant, so no two tenants' shards meet).
import type { AcquireResult } from "./tenant-limiter";

const DEFAULT_SHARDS = 16;
const MAX_SHARDS = 256;
/**
 * Shards a run asks: its own and two others. A refusal then costs at most three requests, each
 * to a different shard, so even a tenant retrying at its cap sends any one shard at most 3/K
 * requests per attempt (0.19 at K = 16: inside the 0.2 a run may cost the hottest shared object).
 */
const PROBES = 3;

/** K, from TENANT_SLOT_SHARDS (1 is the single limiter of before). */
export function slotShardCount(env: Pick<Env, "TENANT_SLOT_SHARDS">): number {
  const k = Number(env.TENANT_SLOT_SHARDS);
  return Number.isInteger(k) && k >= 1 ? Math.min(k, MAX_SHARDS) : DEFAULT_SHARDS;
}

/**
 * The shards that hold part of `cap`: all K, or the first `cap` of them when the cap is smaller
 * (the rest would hold 0 and are never asked, so a small cap is not refused by empty shards).
 */
export const usedShards = (cap: number, k: number): number => Math.max(1, Math.min(k, cap));

/** Shard i's share: the cap spread over the used shards, shares differing by at most 1, summing to cap. */
export function shareOf(i: number, cap: number, k: number): number {
  const n = usedShards(cap, k);
  if (i >= n) return 0;
  return Math.floor(cap / n) + (i < cap % n ? 1 : 0);
}

export const shardName = (tenant: string, i: number): string => (i === 0 ? tenant : `${tenant}#${i}`);

export const shardStub = (env: Env, tenant: string, i: number) => env.TENANTS.getByName(shardName(tenant, i));

/** FNV-1a over the run id: stable across isolates and deploys, and cheap. */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * The shards a run asks for its slot, in order: its home (by its id, the same on every attempt, so a
 * retried create finds the slot it already took there), then two others drawn at random.
 */
export function probeOrder(runId: string, cap: number, k: number, random: () => number = Math.random): number[] {
  const n = usedShards(cap, k);
  const home = hash(runId) % n;
  const others = Array.from({ length: n - 1 }, (_, j) => (home + 1 + j) % n);
  const borrows = Math.min(PROBES - 1, others.length);
  // The first `borrows` steps of a Fisher-Yates shuffle: distinct shards, each equally likely.
  for (let j = 0; j < borrows; j++) {
    const r = j + Math.floor(random() * (others.length - j));
    [others[j], others[r]] = [others[r]!, others[j]!];
  }
  return [home, ...others.slice(0, borrows)];
}

export type SlotGrant =
  | { ok: true; shard: number; held: boolean; webhook_events: string[] }
  /** `in_flight` is exact with one shard; with more, an estimate from the shards asked. */
  | { ok: false; in_flight: number; cap: number };

/**
 * Takes a slot for `runId` from its home shard or, that one full, one of two others. `onRequest` is told
 * of each request made (with the rows it wrote), so the run's usage counts every shard asked.
 */
export async function acquireSlot(env: Env, tenant: string, runId: string, cap: number, onRequest: (rowsWritten: number) => void): Promise<SlotGrant> {
  const k = slotShardCount(env);
  let seen = 0;
  let shares = 0;
  for (const i of probeOrder(runId, cap, k)) {
    const share = shareOf(i, cap, k);
    const r: AcquireResult = await shardStub(env, tenant, i).acquire(runId, share, i === 0 ? undefined : shardName(tenant, 0));
    onRequest(r.rows_written);
    if (r.ok) return { ok: true, shard: i, held: r.held, webhook_events: r.webhook_events };
    seen += r.in_flight;
    shares += share;
  }
  return { ok: false, in_flight: shares === cap ? seen : Math.round((seen / shares) * cap), cap };
}

/** Gives back a slot to the shard that granted it; returns the rows that cost. */
export async function releaseSlotAt(env: Env, tenant: string, shard: number, runId: string): Promise<number> {
  return shardStub(env, tenant, shard).release(runId);
}

/**
 * Tells every shard which events the tenant's webhooks want (the outbox, whenever they change), so
 * a run learns it from the one shard it asks anyway. All K shards, whatever the cap: which of them
 * are used depends on the cap. A shard made after this (K raised) copies shard 0's on first use.
 */
export async function setTenantWebhookEvents(env: Env, tenant: string, events: string[]): Promise<void> {
  const k = slotShardCount(env);
  await Promise.all(Array.from({ length: k }, (_, i) => shardStub(env, tenant, i).setWebhookEvents(events)));
}

/**
 * The tenant's subscribed events, for a run that takes no slot, from any one shard (each holds
 * the same copy): spread, so no one object answers every isolate of a busy tenant.
 */
export async function tenantWebhookEvents(env: Env, tenant: string): Promise<string[]> {
  const i = Math.floor(Math.random() * slotShardCount(env));
  return shardStub(env, tenant, i).webhookEvents(i === 0 ? undefined : shardName(tenant, 0));
}
