// How long an ended run is kept: its tenant's retention (tenant_settings, read with the API key
// that created it and recorded in run.created), else RUN_RETENTION_DAYS (default 30). At the end
// of the run plus that many days, the run object deletes its own storage (its alarm) and the
// retention sweep deletes its D1 row (`runs.expires_at`, the same instant). A run in flight
// (pending, running, waiting) has no expiry: it is never deleted.
import { env as workerEnv } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { tenantSettings } from "../../../db/schema";
import type { RunState } from "../domain/state";
import { TERMINAL_RUN } from "../domain/state";
import { controlDb } from "../../../db/shards";

export const DEFAULT_RETENTION_DAYS = 30;
export const MAX_RETENTION_DAYS = 3650;
const DAY_MS = 86_400_000;

/** RUN_RETENTION_DAYS, or 30 when it is unset or not a whole number of days from 1 to 3650. */
export function defaultRetentionDays(env: Pick<Env, "RUN_RETENTION_DAYS"> | undefined = workerEnv as Env | undefined): number {
  const n = Number(env?.RUN_RETENTION_DAYS);
  return Number.isInteger(n) && n >= 1 && n <= MAX_RETENTION_DAYS ? n : DEFAULT_RETENTION_DAYS;
}

/**
 * The tenant's own retention (null: the default), for callers that start runs without an API key
 * (a schedule's occurrence): one D1 read. Requests with a key have it already, read with the key.
 */
export async function tenantRetentionDays(env: Env, tenant: string): Promise<number | null> {
  const row = await drizzle(controlDb(env))
    .select({ days: tenantSettings.run_retention_days })
    .from(tenantSettings)
    .where(eq(tenantSettings.tenant, tenant))
    .get();
  return row?.days ?? null;
}

/** When the ended run's retention passes (epoch ms); null for a run in flight. */
export function expiresAt(state: RunState): number | null {
  if (state.last_seq === 0 || !TERMINAL_RUN.has(state.status) || !state.completed_at) return null;
  return Date.parse(state.completed_at) + (state.retention_days ?? defaultRetentionDays()) * DAY_MS;
}

/** The same instant for the D1 row (ISO text, like the row's other times). */
export function expiresAtIso(state: RunState): string | null {
  const at = expiresAt(state);
  return at === null ? null : new Date(at).toISOString();
}

/**
 * Deletes everything the run object stored: its event log, bookkeeping, watch tokens and alarm.
 * The object is then as if it was never created: every request for the run answers "not found".
 */
export async function deleteRunStorage(storage: DurableObjectStorage): Promise<void> {
  await storage.deleteAlarm();
  await storage.deleteAll();
}
