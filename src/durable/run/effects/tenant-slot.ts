// The run's slot under its tenant's cap on runs in flight: taken before a run that stays in flight
// is created (or a failed one resumed), given back when it ends.
import { errorFields, log } from "../../../lib/log";
import type { RunState } from "../domain/state";
import type { UsageMeter } from "../storage/usage-meter";
import type { Plan } from "../../../execution/plan-schema";
import type { CreateRunInput } from "../contract";
import { endsInline } from "../domain/control";
import { stepsToRun } from "../domain/rerun-seed";
import { rememberWebhookEvents, webhookEventsOf } from "./run-webhooks";

export type Slot = { ok: true; webhook_events: string[] } | { ok: false; in_flight: number; cap: number };

export async function takeSlot(env: Env, meter: UsageMeter, runId: string, tenant: string, cap: number, now: number): Promise<Slot> {
  const r = await env.TENANTS.getByName(tenant).acquire(runId, cap);
  meter.request(r.rows_written, "tenant_limiter");
  return r.ok ? { ok: true, webhook_events: rememberWebhookEvents(tenant, r.webhook_events, now) } : { ok: false, in_flight: r.in_flight, cap: r.cap };
}

/**
 * Gives the run's slot back. Best effort: if this is lost, the tenant's limiter frees the slot
 * itself once it asks this object and finds the run ended.
 */
export async function releaseSlot(env: Env, meter: UsageMeter, state: RunState): Promise<void> {
  if (!state.holds_slot) return;
  try {
    meter.request(await env.TENANTS.getByName(state.tenant).release(state.run_id), "tenant_limiter");
  } catch (err) {
    log.warn("tenant.release_failed", { run_id: state.run_id, tenant: state.tenant, ...errorFields(err) });
  }
}

export type Admission = { ok: true; holds_slot: boolean; webhook_events: string[] } | { ok: false; in_flight: number; cap: number };

/**
 * Admits a new run: a top-level run that will stay in flight takes its tenant's slot first; one
 * whose steps all run inline ends in the command that creates it and needs none. A child run
 * (Run.start) counts against its root's slot and takes none: with N parents at a cap of N, a
 * child that had to wait for a slot could never start, and every parent would wait for its deadline. Either way, which events the
 * tenant's webhooks want: from the slot's answer, or (no slot) a cached copy.
 */
export async function admit(env: Env, meter: UsageMeter, input: CreateRunInput & { plan: Plan }, now: number): Promise<Admission> {
  if (input.parent || endsInline(stepsToRun(input.plan.steps, input.rerun)))
    return { ok: true, holds_slot: false, webhook_events: await webhookEventsOf(env, input.tenant, now) };
  const slot = await takeSlot(env, meter, input.run_id, input.tenant, input.cap, now);
  return slot.ok ? { ok: true, holds_slot: true, webhook_events: slot.webhook_events } : slot;
}
