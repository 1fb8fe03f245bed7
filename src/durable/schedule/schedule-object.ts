// ScheduleObject: one per schedule (SCHEDULES.getByName(schedule_id)), the source of truth for it:
// its cron, the run it starts, next_run_at and its recent occurrences. Its alarm is set for
// next_run_at; when it fires, the due occurrence starts a run through startRun (with a key derived
// from the schedule and the occurrence, so a duplicate alarm starts nothing twice) and the alarm
// moves to the next occurrence. Firing reads no D1: the tenant's D1 index of schedules only serves
// listings and the MAX_SCHEDULES cap.
//
// Every public method that concerns a schedule takes the caller's tenant and answers "not found"
// for anyone else. Commands run one at a time (see `serially`), so an alarm, a trigger and a change
// never interleave at the awaits in between.
import { DurableObject } from "cloudflare:workers";
import { guardAlarm } from "../alarm-guard";
import type { RunOptions } from "../../execution/run-options";
import { log } from "../../lib/log";
import type { PlanSource } from "../../planner/make-plan";
import type { StartRunResult } from "../run/start-run";
import { dueOccurrences, nextOccurrence } from "./cron";
import { Occurrences, type Occurrence } from "./occurrences";
import type { OverlapPolicy, ScheduleResource } from "./schedule-resource";
import { startOccurrence, stillGoing } from "./start-occurrence";

/** What a schedule is: set on create, changed by PATCH. */
export interface ScheduleSpec {
  name: string | null;
  cron: string;
  timezone: string;
  source: PlanSource;
  options: RunOptions;
  overlap: OverlapPolicy;
  paused: boolean;
}

interface ScheduleRecord extends ScheduleSpec {
  schedule_id: string;
  tenant: string;
  created_at: string;
  updated_at: string;
  /** Epoch ms of the occurrence the alarm is set for; null while paused or when the cron fires no more. */
  next_run_at: number | null;
  /** The last run an occurrence started, with its status as last seen (overlap "skip" asks about it). */
  last_run: { run_id: string; status: string } | null;
}

export type TriggerResult =
  | { ok: true; result: StartRunResult }
  | { ok: false; code: "schedule_not_found" }
  /** The start threw (logged, and recorded as a not_started occurrence): worth trying again. */
  | { ok: false; code: "start_failed" };

const iso = (ms: number) => new Date(ms).toISOString();

export class ScheduleObject extends DurableObject<Env> {
  private readonly occurrences: Occurrences;
  private record: ScheduleRecord | null;
  private turn: Promise<unknown> = Promise.resolve();
  /** Injectable for tests (set through runInDurableObject): occurrences are due by this clock. */
  clock: () => number = Date.now;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.occurrences = new Occurrences(ctx.storage.sql);
    const exists = ctx.storage.sql.exec(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schedule'`).toArray().length > 0;
    const row = exists ? ctx.storage.sql.exec<{ state: string }>(`SELECT state FROM schedule`).toArray()[0] : undefined;
    this.record = row ? (JSON.parse(row.state) as ScheduleRecord) : null;
    // Self-healing on wake: a schedule whose alarm is gone (a restarted local runtime) gets it back.
    if (this.record?.next_run_at != null)
      void ctx.blockConcurrencyWhile(async () => {
        if ((await ctx.storage.getAlarm()) === null) this.arm();
      });
  }

  /** Runs commands one at a time: each sees the state the one before it left. */
  private serially<T>(command: () => Promise<T>): Promise<T> {
    const next = this.turn.then(command);
    this.turn = next.catch(() => {});
    return next;
  }

  private save(r: ScheduleRecord): void {
    this.record = r;
    this.ctx.storage.sql.exec(`INSERT OR REPLACE INTO schedule (k, state) VALUES (0, ?)`, JSON.stringify(r));
  }

  /** The alarm follows next_run_at; set in the same turn as the state that needs it. */
  private arm(): void {
    const next = this.record?.next_run_at ?? null;
    if (next === null) void this.ctx.storage.deleteAlarm();
    else void this.ctx.storage.setAlarm(next);
  }

  private owned(tenant: string): ScheduleRecord | null {
    return this.record && this.record.tenant === tenant ? this.record : null;
  }

  private view(r: ScheduleRecord): ScheduleResource {
    return {
      schedule_id: r.schedule_id,
      name: r.name,
      cron: r.cron,
      timezone: r.timezone,
      overlap: r.overlap,
      paused: r.paused,
      prompt: "prompt" in r.source ? r.source.prompt : null,
      plan: "plan" in r.source ? r.source.plan : null,
      options: r.options,
      next_run_at: r.next_run_at === null ? null : iso(r.next_run_at),
      created_at: r.created_at,
      updated_at: r.updated_at,
      recent_runs: this.occurrences.recent(),
    };
  }

  private nextAfter(spec: ScheduleSpec, ms: number): number | null {
    return spec.paused ? null : nextOccurrence(spec.cron, spec.timezone, ms);
  }

  /** Creates the schedule (its spec already checked by the API) and arms its first occurrence. */
  async create(input: { schedule_id: string; tenant: string; spec: ScheduleSpec }): Promise<ScheduleResource> {
    return this.serially(async () => {
      if (this.record) throw new Error(`schedule ${input.schedule_id} exists already`);
      const sql = this.ctx.storage.sql;
      sql.exec(`CREATE TABLE IF NOT EXISTS schedule (k INTEGER PRIMARY KEY CHECK (k = 0), state TEXT NOT NULL)`);
      this.occurrences.createTable();
      const now = this.clock();
      this.save({
        ...input.spec,
        schedule_id: input.schedule_id,
        tenant: input.tenant,
        created_at: iso(now),
        updated_at: iso(now),
        next_run_at: this.nextAfter(input.spec, now),
        last_run: null,
      });
      this.arm();
      log.info("schedule.created", { schedule_id: input.schedule_id, tenant: input.tenant, cron: input.spec.cron, timezone: input.spec.timezone });
      return this.view(this.record!);
    });
  }

  async get(tenant: string): Promise<ScheduleResource | null> {
    const r = this.owned(tenant);
    return r ? this.view(r) : null;
  }

  /**
   * Changes the schedule. A new cron, time zone or a resume counts from now: occurrences that fell
   * while it was paused are not missed, they were never due.
   */
  async update(tenant: string, changes: Partial<ScheduleSpec>): Promise<ScheduleResource | null> {
    return this.serially(async () => {
      const r = this.owned(tenant);
      if (!r) return null;
      const spec: ScheduleRecord = { ...r, ...changes };
      const now = this.clock();
      const timing = spec.cron !== r.cron || spec.timezone !== r.timezone || spec.paused !== r.paused;
      this.save({ ...spec, updated_at: iso(now), next_run_at: timing ? this.nextAfter(spec, now) : r.next_run_at });
      if (timing) this.arm();
      return this.view(this.record!);
    });
  }

  /** Deletes the schedule: its storage and its alarm. Runs it started go on. */
  async remove(tenant: string): Promise<boolean> {
    return this.serially(async () => {
      if (!this.owned(tenant)) return false;
      this.record = null;
      await this.ctx.storage.deleteAlarm();
      await this.ctx.storage.deleteAll();
      return true;
    });
  }

  /** Runs the schedule now, whatever its cron, pause or overlap policy say; recorded as a manual occurrence. */
  async trigger(tenant: string): Promise<TriggerResult> {
    return this.serially(async () => {
      const r = this.owned(tenant);
      if (!r) return { ok: false, code: "schedule_not_found" };
      const { occurrence, result } = await startOccurrence(this.env, {
        schedule_id: r.schedule_id,
        tenant: r.tenant,
        source: r.source,
        options: r.options,
        scheduled_for: this.clock(),
        manual: true,
      });
      this.finish(r, [occurrence], r.next_run_at);
      if (!result) return { ok: false, code: "start_failed" };
      return { ok: true, result };
    });
  }

  /** The alarm: the due occurrence (at most one after downtime; the rest are missed). */
  override async alarm(): Promise<void> {
    // Guarded: a throw (its storage, a D1 read) is logged and retried with backoff, never left to
    // the runtime's few retries. A retry of an occurrence finds its run by the occurrence's key.
    const fields = { schedule_id: this.record?.schedule_id, tenant: this.record?.tenant };
    await this.serially(() => guardAlarm(this.ctx, "schedule", fields, () => this.fire()));
  }

  private async fire(): Promise<void> {
    const r = this.record;
    if (!r || r.next_run_at === null) return;
    const now = this.clock();
    const due = dueOccurrences(r.cron, r.timezone, r.next_run_at, now);
    // Early (a duplicate of an alarm already handled, or a clock behind the runtime's): wait on.
    if (!due) return this.arm();
    const missed: Occurrence[] = due.missed.map((t) => ({ scheduled_for: t, manual: false, run_id: null, status: "missed", error: null }));
    if (due.missed_count > 0)
      log.warn("schedule.missed", { schedule_id: r.schedule_id, tenant: r.tenant, missed: due.missed_count, capped: due.capped, caught_up: iso(due.latest) });
    const next = this.nextAfter(r, Math.max(due.latest, now));
    const previous = r.overlap === "skip" ? await stillGoing(this.env, r.last_run) : { going: false, status: null };
    if (previous.going && r.last_run) {
      const skipped: Occurrence = {
        scheduled_for: due.latest,
        manual: false,
        run_id: null,
        status: "skipped",
        error:
          previous.status === "unknown"
            ? { code: "previous_run_unknown", message: `Run ${r.last_run.run_id} could not be asked whether it was still going.` }
            : { code: "previous_run_in_flight", message: `Run ${r.last_run.run_id} was still ${previous.status}.` },
      };
      const seen = previous.status && previous.status !== "unknown" ? previous.status : r.last_run.status;
      this.finish({ ...r, last_run: { ...r.last_run, status: seen } }, [...missed, skipped], next);
      return;
    }
    const { occurrence } = await startOccurrence(this.env, {
      schedule_id: r.schedule_id,
      tenant: r.tenant,
      source: r.source,
      options: r.options,
      scheduled_for: due.latest,
      manual: false,
    });
    this.finish(r, [...missed, occurrence], next);
  }

  /** Records occurrences, the last run and the next occurrence in one turn, with the alarm for it. */
  private finish(r: ScheduleRecord, occurred: Occurrence[], next: number | null): void {
    // Commands run serially, so `r` is still the record: nothing changed or deleted it while the run was starting.
    const started = occurred.findLast((o) => o.run_id !== null);
    this.occurrences.record(...occurred);
    this.save({ ...r, next_run_at: next, last_run: started?.run_id ? { run_id: started.run_id, status: started.status } : r.last_run });
    this.arm();
    for (const o of occurred)
      if (o.status !== "missed")
        log.info("schedule.occurrence", {
          schedule_id: r.schedule_id,
          tenant: r.tenant,
          scheduled_for: iso(o.scheduled_for),
          manual: o.manual,
          run_id: o.run_id,
          status: o.status,
        });
  }
}
