// The run's slot under its tenant's cap on runs in flight: taken before a run that stays in flight
// is created (or a failed one resumed) from one of the tenant's limiter shards (tenant-shards.ts),
// given back to that same shard when it ends. The shard that granted it is written into the event
// that starts the run's time in flight (run.created or run.resumed, `slot_shard`; absent: shard 0,
// the one limiter of before shards), so a release finds it after any restart.
import { errorFields, log } from "../../../lib/log";
import type { RunState } from "../domain/state";
import type { UsageMeter } from "../storage/usage-meter";
import type { Plan } from "../../../execution/plan-schema";
import type { CreateRunInput } from "../contract";
import { endsInline } from "../domain/control";
import { stepsToRun } from "../domain/rerun-seed";
import { acquireSlot, releaseSlotAt } from "../../tenant/tenant-shards";
import { rememberWebhookEvents, webhookEventsOf } from "./run-webhooks";

export type Slot = { ok: true; shard: number; webhook_events: string[] } | { ok: false; in_flight: number; cap: number };

/** Each shard asked is one request to a shared object, counted in the run's usage. */
export async function takeSlot(env: Env, meter: UsageMeter, runId: string, tenant: string, cap: number, now: number): Promise<Slot> {
  const r = await acquireSlot(env, tenant, runId, cap, (rows) => meter.request(rows, "tenant_limiter"));
  return r.ok ? { ok: true, shard: r.shard, webhook_events: rememberWebhookEvents(tenant, r.webhook_events, now) } : r;
}

/**
 * Gives the run's slot back. Best effort: if this is lost, the shard frees the slot itself once it
 * asks this object and finds the run ended.
 */
export async function releaseSlot(env: Env, meter: UsageMeter, state: RunState): Promise<void> {
  if (!state.holds_slot) return;
  try {
    meter.request(await releaseSlotAt(env, state.tenant, state.slot_shard, state.run_id), "tenant_limiter");
  } catch (err) {
    log.warn("tenant.release_failed", { run_id: state.run_id, tenant: state.tenant, shard: state.slot_shard, ...errorFields(err) });
  }
}

export type Admission = { ok: true; holds_slot: boolean; slot_shard: number; webhook_events: string[] } | { ok: false; in_flight: number; cap: number };

/**
 * Admits a new run: a top-level run that will stay in flight takes its tenant's slot first; one
 * whose steps all run inline ends in the command that creates it and needs none. A child run
 * (Run.start) counts against its root's slot and takes none: with N parents at a cap of N, a
 * child that had to wait for a slot could never start, and every parent would wait for its deadline. Either way, which events the
 * tenant's webhooks want: from the slot's answer, or (no slot) a cached copy.
 */
export async function admit(env: Env, meter: UsageMeter, input: CreateRunInput & { plan: Plan }, now: number): Promise<Admission> {
  if (input.parent || endsInline(stepsToRun(input.plan.steps, input.rerun)))
    return { ok: true, holds_slot: false, slot_shard: 0, webhook_events: await webhookEventsOf(env, input.tenant, now) };
  const slot = await takeSlot(env, meter, input.run_id, input.tenant, input.cap, now);
  return slot.ok ? { ok: true, holds_slot: true, slot_shard: slot.shard, webhook_events: slot.webhook_events } : slot;
}
