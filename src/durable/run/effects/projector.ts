// The run's D1 read model as an effect of its commands: which milestone is due to be written, the
// write itself (off every caller's path), its retries, and when the alarm must wake for it. The
// D1 statement is projection.ts's; this owns only when it runs, and which way it goes: a run's
// end straight to D1 (or, with READ_MODEL_END_ROWS "queued", through the read-model queues), a row
// while it is in flight through the read-model queues (read-model-queue.ts).
import { backoffDelay, BACKGROUND_RETRY } from "../../../execution/backoff";
import { errorFields, log } from "../../../lib/log";
import type { RunEvent, RunEventType } from "../domain/events";
import type { ProjectionMark } from "../storage/bookkeeping";
import type { UsageMeter } from "../storage/usage-meter";
import { TERMINAL_RUN, type RunState } from "../domain/state";
import { writeRunRow } from "../../../db/run-rows";
import { readModelFor, rowOf } from "./projection";
import { endRowsQueued, queueRow, rowFitsQueue } from "./read-model-queue";

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

/**
 * How long a new run's creation row waits (docs/architecture.md, "Scale"): a run that ends within
 * it sends nothing but its end row. A run still in flight after it has its creation row sent to the
 * read-model queue by its alarm. GET /runs (D1) lists an in-flight run up to this late, plus the
 * queue's batch; GET /runs/{id} is answered by the run object and never is.
 */
export const CREATION_ROW_DELAY_MS = 2_000;

export class Projector {
  /** The last event that must reach the read model. */
  private milestoneSeq = 0;
  /** When that milestone is due in D1: a creation waits CREATION_ROW_DELAY_MS, every other milestone is due at once. */
  private dueAt = 0;
  private mark: ProjectionMark = { seq: 0, failures: 0, retry_at: 0 };
  private projecting: Promise<void> | null = null;

  constructor(
    private readonly env: Env,
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
    if (!MILESTONES.has(event.type) && !(after !== before && (before === "waiting" || after === "waiting"))) return;
    const at = Date.parse(event.at);
    // A creation waits; anything after it is due at once, and so is what was owed before it.
    if (!this.behind) this.dueAt = event.type === "plan.accepted" ? at + CREATION_ROW_DELAY_MS : at;
    else this.dueAt = Math.min(this.dueAt, at);
    this.milestoneSeq = event.seq;
  }

  get behind(): boolean {
    return this.milestoneSeq > this.mark.seq;
  }

  /** When the alarm must write it (null: up to date); `graceMs` gives a write under way its time. */
  nextDue(now: number, graceMs = 0): number | null {
    if (!this.behind) return null;
    // A creation row still waiting is the alarm's to write; one due now is being written, and gets its grace.
    return Math.max(this.mark.retry_at, this.dueAt > now ? this.dueAt : now + graceMs);
  }

  /** Writes the read model off the caller's path; `then` runs when the write settled (re-arm the alarm). */
  inBackground(ctx: DurableObjectState, state: RunState, then: () => void): void {
    if (this.projecting || !this.behind || !state.run_id || this.dueAt > this.clock()) return;
    this.projecting = this.now(state).finally(() => {
      this.projecting = null;
      then();
      // A milestone that landed while this write was under way gets its own.
      if (this.behind && this.mark.failures === 0) this.inBackground(ctx, state, then);
    });
    ctx.waitUntil(this.projecting);
  }

  /** Whether a write is due now (and so under way, or about to be): it re-arms the alarm when it lands. */
  writing(now: number): boolean {
    return this.behind && this.dueAt <= now;
  }

  /** Writes the read model now if it is behind; a failure is retried by the alarm with backoff. */
  async now(state: RunState): Promise<void> {
    // The alarm found a write under way (a slow D1): it waits for that one rather than write twice.
    if (this.projecting) await this.projecting;
    if (!this.behind || !state.run_id) return;
    const seq = state.last_seq;
    try {
      // An end is a run's one statement of its own, and is listed a few milliseconds after it; a
      // row in flight rides a batch (one statement per shard for up to 100 runs), up to a second
      // later, and so does an end when READ_MODEL_END_ROWS is "queued" and the row fits a message.
      // The queue holds it once sent, so either way the mark moves on.
      const row = rowOf(state);
      if (TERMINAL_RUN.has(state.status) && !(endRowsQueued(this.env) && rowFitsQueue(row))) {
        this.meter().d1(await writeRunRow(readModelFor(this.env, state.tenant), row));
      } else {
        await queueRow(this.env, state.tenant, row);
        this.meter().rowQueued();
      }
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
    this.dueAt = 0;
    this.mark = { seq: 0, failures: 0, retry_at: 0 };
  }
}
