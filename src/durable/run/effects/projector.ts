// The run's D1 read model as an effect of its commands: which milestone is due to be written, the
// write itself (off every caller's path), its retries, and when the alarm must wake for it. The
// D1 statement is projection.ts's; this owns only when it runs.
import { backoffDelay, BACKGROUND_RETRY } from "../../../execution/backoff";
import { errorFields, log } from "../../../lib/log";
import type { RunEvent, RunEventType } from "../domain/events";
import type { RunState } from "../domain/state";
import type { ProjectionMark } from "../storage/bookkeeping";
import type { UsageMeter } from "../storage/usage-meter";
import { projectRun } from "./projection";

/** Events after which the D1 read model is rewritten. */
const MILESTONES: ReadonlySet<RunEventType> = new Set([
  "plan.accepted",
  "run.cancelling",
  "compensation.started",
  "run.completed",
  "run.failed",
  "run.cancelled",
  "run.resumed",
  "run.paused",
  "run.unpaused",
]);

export class Projector {
  /** The last event that must reach the read model. */
  private milestoneSeq = 0;
  private mark: ProjectionMark = { seq: 0, failures: 0, retry_at: 0 };
  private projecting: Promise<void> | null = null;

  constructor(
    /** The tenant's read-model shard (src/db/shards.ts). */
    private readonly dbFor: (tenant: string) => D1Database,
    private readonly clock: () => number,
    private readonly meter: () => UsageMeter,
    /** Saves the mark with the usage counters: one write that happens anyway. */
    private readonly save: (mark: ProjectionMark) => void,
  ) {}

  restore(mark: ProjectionMark | undefined): void {
    if (mark) this.mark = mark;
  }

  get saved(): ProjectionMark {
    return this.mark;
  }

  /** Folds with the run: a milestone, or a run that starts or stops waiting (GET /runs?status=waiting reads D1). */
  noticed(event: RunEvent, before: RunState["status"], after: RunState["status"]): void {
    if (MILESTONES.has(event.type) || (after !== before && (before === "waiting" || after === "waiting"))) this.milestoneSeq = event.seq;
  }

  get behind(): boolean {
    return this.milestoneSeq > this.mark.seq;
  }

  /** When the alarm must write it (null: up to date); `graceMs` gives a write under way its time. */
  nextDue(now: number, graceMs = 0): number | null {
    return this.behind ? Math.max(this.mark.retry_at, now + graceMs) : null;
  }

  /** Writes the read model off the caller's path; `then` runs when the write settled (re-arm the alarm). */
  inBackground(ctx: DurableObjectState, state: RunState, then: () => void): void {
    if (this.projecting || !this.behind || !state.run_id) return;
    this.projecting = this.now(state).finally(() => {
      this.projecting = null;
      then();
      // A milestone that landed while this write was under way gets its own.
      if (this.behind && this.mark.failures === 0) this.inBackground(ctx, state, then);
    });
    ctx.waitUntil(this.projecting);
  }

  /** Writes the read model now if it is behind; a failure is retried by the alarm with backoff. */
  async now(state: RunState): Promise<void> {
    if (!this.behind || !state.run_id) return;
    const seq = state.last_seq;
    try {
      this.meter().d1(await projectRun(this.dbFor(state.tenant), state));
      this.set({ seq, failures: 0, retry_at: 0 });
    } catch (err) {
      // The read model catches up later: the alarm retries with backoff until the write lands.
      const failures = this.mark.failures + 1;
      const delay = backoffDelay(BACKGROUND_RETRY, failures);
      this.set({ seq: this.mark.seq, failures, retry_at: this.clock() + delay });
      log.error("projection.failed", { run_id: state.run_id, failures, retry_in_ms: delay, ...errorFields(err) });
    }
  }

  private set(mark: ProjectionMark): void {
    this.mark = mark;
    this.save(mark);
  }

  /** The run's storage was deleted: nothing is owed any more. */
  reset(): void {
    this.milestoneSeq = 0;
    this.mark = { seq: 0, failures: 0, retry_at: 0 };
  }
}
