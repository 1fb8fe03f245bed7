// BulkJob: one per bulk job (POST /runs/bulk), acting on every run of a tenant that a filter
// matches. Its alarm does the work one bounded page at a time: read a page of the D1 read model,
// ask each run's object to act (cancel, resume, or start a rerun), save the progress and the
// cursor, and arm itself for the next page at once. No request ever waits on the whole job, and a
// job of any size costs each page the same.
//
// A page that throws (D1 unavailable) is retried by the alarm guard with backoff; after
// MAX_PAGE_FAILURES consecutive failures (about 8 minutes of trying) the job ends `failed` with
// the error, rather than staying `running` forever. A job that ended is kept for
// BULK_JOB_RETENTION_MS, so its outcome can be read, then its object deletes its own storage
// (its alarm is set for that moment when it ends) and GET /jobs/{id} answers 404.
import { DurableObject } from "cloudflare:workers";
import { errorFields, log } from "../../lib/log";
import { guardAlarm } from "../alarm-guard";
import { runClient } from "../run/run-client";
import { startRerun } from "../run/rerun";
import type { RunResource } from "../run/run-view";
import { matchingRuns, type BulkAction, type BulkFilter, type PageCursor } from "./bulk-filter";
import { dbFor } from "../../db/shards";

/** Runs read and acted on per alarm: a page's RPCs go out together. */
export const BULK_PAGE_SIZE = 25;
/** The last failures kept for GET /jobs/{id}, so a person can see why. */
const KEPT_FAILURES = 20;
/** Consecutive failed pages after which the job ends `failed` (the guard's backoff: 1 s … 2 min apart). */
export const MAX_PAGE_FAILURES = 8;
/** How long an ended job stays readable before its object deletes itself: a week. */
export const BULK_JOB_RETENTION_MS = 7 * 24 * 3600_000;

type JobStatus = "running" | "completed" | "failed";

export interface BulkJobSpec {
  job_id: string;
  tenant: string;
  action: BulkAction;
  filter: BulkFilter;
  /** The tenant's cap on runs in flight, for resume. */
  cap: number;
  /** The tenant's retention when the job was made, for its reruns (absent: RUN_RETENTION_DAYS). */
  retention_days?: number;
}

interface Progress {
  status: JobStatus;
  /** Why a `failed` job stopped. */
  error?: { code: string; message: string };
  matched: number;
  done: number;
  failed: number;
  cursor: PageCursor | null;
  failures: { run_id: string; code: string }[];
  created_at: string;
  completed_at: string | null;
}

export interface BulkJobView {
  job_id: string;
  action: BulkAction;
  filter: BulkFilter;
  status: JobStatus;
  error: { code: string; message: string } | null;
  matched: number;
  done: number;
  failed: number;
  failures: { run_id: string; code: string }[];
  created_at: string;
  completed_at: string | null;
}

type Outcome = { ok: true } | { ok: false; code: string };

/** A rerun of a bulk job starts at the run's first failed step (or, in a cancelled run, its first step that did not succeed). */
export function firstStepToRerun(run: RunResource): number | null {
  const failed = run.execution_log.find((s) => s.status === "failed");
  return (failed ?? run.execution_log.find((s) => s.status !== "succeeded"))?.step_number ?? null;
}

export class BulkJob extends DurableObject<Env> {
  private spec: BulkJobSpec | null = null;
  private progress: Progress | null = null;
  /** Injectable for tests (set through runInDurableObject): retention is measured by this clock. */
  clock: () => number = Date.now;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const sql = ctx.storage.sql;
    sql.exec(`CREATE TABLE IF NOT EXISTS job (id INTEGER PRIMARY KEY CHECK (id = 1), spec TEXT NOT NULL, progress TEXT NOT NULL)`);
    const row = sql.exec<{ spec: string; progress: string }>(`SELECT spec, progress FROM job WHERE id = 1`).toArray()[0];
    if (row) {
      this.spec = JSON.parse(row.spec) as BulkJobSpec;
      this.progress = JSON.parse(row.progress) as Progress;
      // A job that ended before retention was kept has no alarm: it gets the one that deletes it.
      if (this.progress.status !== "running")
        void ctx.blockConcurrencyWhile(async () => {
          if ((await ctx.storage.getAlarm()) === null) await ctx.storage.setAlarm(this.deleteAt());
        });
    }
  }

  /** When an ended job's object deletes itself. */
  private deleteAt(): number {
    const ended = this.progress?.completed_at ? Date.parse(this.progress.completed_at) : this.clock();
    return ended + BULK_JOB_RETENTION_MS;
  }

  private nextPageAt(): number {
    const delay = Number(this.env.BULK_PAGE_DELAY_MS);
    return Date.now() + (Number.isFinite(delay) && delay > 0 ? delay : 0);
  }

  private save(progress: Progress): void {
    this.progress = progress;
    this.ctx.storage.sql.exec(`UPDATE job SET progress = ? WHERE id = 1`, JSON.stringify(progress));
  }

  private view(): BulkJobView {
    const spec = this.spec!;
    const p = this.progress!;
    return {
      job_id: spec.job_id,
      action: spec.action,
      filter: spec.filter,
      status: p.status,
      error: p.error ?? null,
      matched: p.matched,
      done: p.done,
      failed: p.failed,
      failures: p.failures,
      created_at: p.created_at,
      completed_at: p.completed_at,
    };
  }

  /** Creates the job and arms its first page; a second start of the same job changes nothing. */
  async start(spec: BulkJobSpec): Promise<BulkJobView> {
    if (!this.spec) {
      const progress: Progress = {
        status: "running",
        matched: 0,
        done: 0,
        failed: 0,
        cursor: null,
        failures: [],
        created_at: new Date().toISOString(),
        completed_at: null,
      };
      this.ctx.storage.sql.exec(`INSERT INTO job (id, spec, progress) VALUES (1, ?, ?)`, JSON.stringify(spec), JSON.stringify(progress));
      this.spec = spec;
      this.progress = progress;
      await this.ctx.storage.setAlarm(this.nextPageAt());
      log.info("bulk.started", { job_id: spec.job_id, tenant: spec.tenant, action: spec.action });
    }
    return this.view();
  }

  /** The job, for its own tenant only: to anyone else it does not exist. */
  async get(tenant: string): Promise<BulkJobView | null> {
    return this.spec && this.spec.tenant === tenant ? this.view() : null;
  }

  /** The next page, guarded; or, for a job that ended, its deletion once retention has passed. */
  override async alarm(): Promise<void> {
    const spec = this.spec;
    const p = this.progress;
    if (!spec || !p) return;
    if (p.status !== "running") return this.expire(spec);
    const failures = await guardAlarm(this.ctx, "bulk", { job_id: spec.job_id, tenant: spec.tenant }, () => this.page(spec, p));
    if (failures >= MAX_PAGE_FAILURES) {
      const message = `The job stopped after ${failures} pages in a row failed to read or record (the errors were logged); ${p.done} runs were done.`;
      this.end({ ...p, status: "failed", error: { code: "bulk_page_failed", message } });
      log.error("bulk.failed", { job_id: spec.job_id, tenant: spec.tenant, failures, done: p.done });
    }
  }

  /** Ends the job: saved with its end time, and its alarm set for its deletion. */
  private end(progress: Progress): void {
    this.save({ ...progress, completed_at: new Date(this.clock()).toISOString() });
    void this.ctx.storage.setAlarm(this.deleteAt());
  }

  /** An ended job past its retention deletes everything it stored (an early alarm re-arms). */
  private async expire(spec: BulkJobSpec): Promise<void> {
    if (this.clock() < this.deleteAt()) {
      await this.ctx.storage.setAlarm(this.deleteAt());
      return;
    }
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    this.spec = null;
    this.progress = null;
    log.info("bulk.deleted", { job_id: spec.job_id, tenant: spec.tenant });
  }

  /** One page: read it, act on each run, save the progress, and arm the next page if there may be one. */
  private async page(spec: BulkJobSpec, p: Progress): Promise<void> {
    const page = await matchingRuns(dbFor(this.env, spec.tenant), {
      tenant: spec.tenant,
      action: spec.action,
      filter: spec.filter,
      until: p.created_at,
      cursor: p.cursor,
      limit: BULK_PAGE_SIZE,
    });
    const outcomes = await Promise.all(page.map((r) => this.act(spec, r.run_id)));
    const failures = outcomes.flatMap((o, i) => (o.ok ? [] : [{ run_id: page[i]!.run_id, code: o.code }]));
    const last = page.at(-1);
    const more = page.length === BULK_PAGE_SIZE;
    const next: Progress = {
      ...p,
      matched: p.matched + page.length,
      done: p.done + outcomes.filter((o) => o.ok).length,
      failed: p.failed + failures.length,
      failures: [...p.failures, ...failures].slice(-KEPT_FAILURES),
      cursor: last ? { created_at: last.created_at, run_id: last.run_id } : p.cursor,
    };
    if (more) {
      this.save(next);
      await this.ctx.storage.setAlarm(this.nextPageAt());
    } else {
      this.end({ ...next, status: "completed" });
      log.info("bulk.completed", { job_id: spec.job_id, tenant: spec.tenant, matched: next.matched, failed: next.failed });
    }
  }

  /** One run: never throws, so one run's trouble neither repeats the page nor stops the job. */
  private async act(spec: BulkJobSpec, runId: string): Promise<Outcome> {
    try {
      const run = runClient(this.env, runId);
      switch (spec.action) {
        case "cancel":
          return outcome(await run.cancel(spec.tenant, { reason: `Cancelled by bulk job ${spec.job_id}.` }));
        case "resume":
          return outcome(await run.resume(spec.tenant, spec.cap));
        case "rerun":
          return outcome(
            await startRerun(this.env, {
              tenant: spec.tenant,
              run_id: runId,
              request: (original) => {
                const from = firstStepToRerun(original);
                return from === null ? null : { from_step: from };
              },
              // A page repeated after a crash finds the rerun it already started.
              idempotency_key: `bulk:${spec.job_id}:${runId}`,
              ...(spec.retention_days ? { retention_days: spec.retention_days } : {}),
            }),
          );
      }
    } catch (err) {
      log.error("bulk.run_failed", { job_id: spec.job_id, run_id: runId, ...errorFields(err) });
      return { ok: false, code: "internal_error" };
    }
  }
}

const outcome = (r: { ok: true } | { ok: false; code: string }): Outcome => (r.ok ? { ok: true } : { ok: false, code: r.code });
