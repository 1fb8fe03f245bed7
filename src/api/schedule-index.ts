// The tenant's index of schedules in D1: what GET /schedules lists and what the MAX_SCHEDULES cap
// counts. Written only on create, change and delete; each schedule's object is the source of truth,
// and firing an occurrence never reads this. A listing's next run is computed from the cron here,
// so a list of a hundred schedules asks no schedule object.
import { and, desc, eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { schedules, type ScheduleRow } from "../db/schema";
import { nextOccurrence } from "../durable/schedule/cron";
import type { ScheduleResource, ScheduleSummary } from "../durable/schedule/schedule-resource";

const DEFAULT_MAX_SCHEDULES = 100;

/** The per-tenant cap on schedules (MAX_SCHEDULES). */
export function scheduleCap(env: Env): number {
  const n = Number(env.MAX_SCHEDULES);
  return Number.isInteger(n) && n > 0 ? n : DEFAULT_MAX_SCHEDULES;
}

const rowOf = (tenant: string, s: ScheduleResource): ScheduleRow => ({
  schedule_id: s.schedule_id,
  tenant,
  name: s.name,
  cron: s.cron,
  timezone: s.timezone,
  overlap: s.overlap,
  paused: s.paused,
  prompt: s.prompt,
  created_at: s.created_at,
  updated_at: s.updated_at,
});

/**
 * Adds a schedule to its tenant's index unless the tenant has `cap` already: one statement, so two
 * creates at once cannot both take the last place. False when the tenant is at its cap.
 */
export async function indexNew(db: D1Database, tenant: string, row: Omit<ScheduleRow, "tenant">, cap: number): Promise<boolean> {
  const r = await db
    .prepare(
      `INSERT INTO schedules (schedule_id, tenant, name, cron, timezone, overlap, paused, prompt, created_at, updated_at)
       SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE (SELECT count(*) FROM schedules WHERE tenant = ?) < ?`,
    )
    .bind(row.schedule_id, tenant, row.name, row.cron, row.timezone, row.overlap, row.paused ? 1 : 0, row.prompt, row.created_at, row.updated_at, tenant, cap)
    .run();
  return (r.meta.changes ?? 0) > 0;
}

/** Brings the index's copy of a schedule up to date after a change. */
export async function indexChanged(db: D1Database, tenant: string, s: ScheduleResource): Promise<void> {
  const { schedule_id: _id, tenant: _t, created_at: _c, ...set } = rowOf(tenant, s);
  await drizzle(db)
    .update(schedules)
    .set(set)
    .where(and(eq(schedules.schedule_id, s.schedule_id), eq(schedules.tenant, tenant)))
    .run();
}

export async function indexRemoved(db: D1Database, tenant: string, scheduleId: string): Promise<void> {
  await drizzle(db)
    .delete(schedules)
    .where(and(eq(schedules.schedule_id, scheduleId), eq(schedules.tenant, tenant)))
    .run();
}

/** The tenant's schedules, newest first, each with its next run computed from its cron. */
export async function listIndexed(db: D1Database, tenant: string, now: number): Promise<ScheduleSummary[]> {
  const rows = await drizzle(db)
    .select()
    .from(schedules)
    .where(eq(schedules.tenant, tenant))
    .orderBy(desc(schedules.created_at), desc(schedules.schedule_id))
    .all();
  return rows.map((r) => {
    const next = r.paused ? null : nextOccurrence(r.cron, r.timezone, now);
    return {
      schedule_id: r.schedule_id,
      name: r.name,
      cron: r.cron,
      timezone: r.timezone,
      overlap: r.overlap,
      paused: r.paused,
      prompt: r.prompt,
      next_run_at: next === null ? null : new Date(next).toISOString(),
      created_at: r.created_at,
      updated_at: r.updated_at,
    };
  });
}

/**
 * How far from its occurrence's time a schedule's run is looked for by its creation time. The
 * schedule object starts the run when its alarm fires at the occurrence (a manual trigger's time is
 * the moment it was asked), so the run is created just after; a run created outside this (an alarm
 * many minutes late) is not found here, and its status is asked of its run object.
 */
export const OCCURRENCE_WINDOW = { before_ms: 60_000, after_ms: 10 * 60_000 } as const;

/** At most this many runs per statement: 4 parameters each, and D1 binds at most 100. */
const MAX_LOOKUPS = 24;

/**
 * The statuses D1 has for these runs of the tenant's (one statement for up to 24; the read model
 * may lag a few ms). Each run is found by the key the lists walk, (tenant, created_at, run_id), with
 * created_at in its occurrence's window: runs.run_id has no index of its own, and a lookup by it
 * alone would scan the tenant's history.
 */
export async function runStatuses(db: D1Database, tenant: string, runs: readonly { run_id: string; scheduled_for: string }[]): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  const iso = (ms: number) => new Date(ms).toISOString();
  for (let i = 0; i < runs.length; i += MAX_LOOKUPS) {
    const chunk = runs.slice(i, i + MAX_LOOKUPS);
    const rows = await db
      .prepare(`SELECT run_id, status FROM runs WHERE ${chunk.map(() => "(tenant = ? AND created_at BETWEEN ? AND ? AND run_id = ?)").join(" OR ")}`)
      .bind(
        ...chunk.flatMap((r) => {
          const at = Date.parse(r.scheduled_for);
          return [tenant, iso(at - OCCURRENCE_WINDOW.before_ms), iso(at + OCCURRENCE_WINDOW.after_ms), r.run_id];
        }),
      )
      .all<{ run_id: string; status: string }>();
    for (const r of rows.results) found.set(r.run_id, r.status);
  }
  return found;
}
