// Reports for one run that finish together go to its run object as one request. The eight
// parallel steps of a DAG usually arrive in one batch and end within milliseconds of each other:
// one report instead of eight is seven requests and seven rows saved, and one decision instead
// of eight. A report waits at most COALESCE_MS for its siblings, so a slow step never holds a
// fast one's result back for long.
//
// A report also offers to take the work it calls for (a continuation, domain/continuation.ts): the
// run object answers with up to that many messages, which this consumer then runs and reports in
// turn, with no queue hop between one step and the next. The offer is bounded per consumer
// invocation, in messages and in time, so that one long chain neither outlives the invocation's
// limits nor holds a batch (the local queue hands out one batch at a time) for more than a moment.
import type { ReportAnswer, StepMessage, StepReport } from "../execution/step-protocol";
import { errorFields, log } from "../lib/log";

const COALESCE_MS = 10;
const REPORT_TRIES = 3;
/** The most messages one report takes over: a turn's parallel tool calls, a DAG's next level. */
const MAX_TAKE = 8;

/** What one consumer invocation may still take over: messages, and until when (epoch ms). */
export interface Continuation {
  left: number;
  until: number;
}

/** No continuation: every next step goes by queue (the dead-letter consumer; tests of the plain protocol). */
export const NO_CONTINUATION: Continuation = { left: 0, until: 0 };

interface Waiting {
  report: StepReport;
  done: (next: StepMessage[]) => void;
  failed: (err: unknown) => void;
}

interface Group {
  /** Messages of this run in the batch that have neither reported nor finished without a report. */
  open: number;
  waiting: Waiting[];
  timer?: ReturnType<typeof setTimeout>;
}

export class ReportBatcher {
  private readonly groups = new Map<string, Group>();

  constructor(
    private readonly env: Env,
    runIds: readonly string[],
    private readonly continuation: Continuation = { ...NO_CONTINUATION },
  ) {
    for (const id of runIds) this.expect(id, 1);
  }

  /**
   * Resolves once the report has reached the run object (or rejects after the last try), with the
   * messages the run object handed over for this consumer to run next (each already counted as an
   * open message of its run here, so its report coalesces with its siblings').
   */
  report(runId: string, report: StepReport): Promise<StepMessage[]> {
    const g = this.group(runId);
    return new Promise<StepMessage[]>((done, failed) => {
      g.waiting.push({ report, done, failed });
      g.open -= 1;
      if (g.open <= 0) void this.flush(runId);
      else g.timer ??= setTimeout(() => void this.flush(runId), COALESCE_MS);
    });
  }

  /** A message of this run ended without a report (deferred, dropped, duplicate). */
  finished(runId: string): void {
    const g = this.group(runId);
    g.open -= 1;
    if (g.open <= 0 && g.waiting.length > 0) void this.flush(runId);
  }

  /** `n` more messages of this run will report (or finish) through this batcher. */
  private expect(runId: string, n: number): void {
    const g = this.groups.get(runId) ?? { open: 0, waiting: [] };
    g.open += n;
    this.groups.set(runId, g);
  }

  /** How many messages the next report offers to take. */
  private offer(): number {
    const c = this.continuation;
    return c.left > 0 && Date.now() < c.until ? Math.min(MAX_TAKE, c.left) : 0;
  }

  private group(runId: string): Group {
    let g = this.groups.get(runId);
    if (!g) {
      g = { open: 1, waiting: [] };
      this.groups.set(runId, g);
    }
    return g;
  }

  private async flush(runId: string): Promise<void> {
    const g = this.group(runId);
    if (g.timer !== undefined) clearTimeout(g.timer);
    g.timer = undefined;
    const batch = g.waiting.splice(0);
    if (batch.length === 0) return;
    const run = this.env.RUNS.getByName(runId);
    // Retried a few times in place; if it never lands, the leases expire and the run object
    // dispatches the steps again, which the tools' idempotency keys make safe.
    for (let i = 1; ; i++) {
      try {
        // RPC's types cannot follow the message's `input` (unknown); the object answers the protocol's type.
        const { next } = (await run.report(
          batch.map((w) => w.report),
          this.offer(),
        )) as unknown as ReportAnswer;
        this.continuation.left -= next.length;
        if (next.length > 0) this.expect(runId, next.length);
        batch.forEach((w, n) => w.done(n === 0 ? next : []));
        return;
      } catch (err) {
        if (i >= REPORT_TRIES) {
          for (const w of batch) w.failed(err);
          return;
        }
        log.warn("step.report_retry", { run_id: runId, steps: batch.map((w) => w.report.step), try: i, ...errorFields(err) });
        await new Promise((r) => setTimeout(r, 50 * i));
      }
    }
  }
}
