// Reports for one run that finish together go to its run object as one request. The eight
// parallel steps of a DAG usually arrive in one batch and end within milliseconds of each other:
// one report instead of eight is seven requests and seven rows saved, and one decision instead
// of eight. A report waits at most COALESCE_MS for its siblings, so a slow step never holds a
// fast one's result back for long.
import type { StepReport } from "../execution/step-protocol";
import { errorFields, log } from "../lib/log";

const COALESCE_MS = 10;
const REPORT_TRIES = 3;

interface Waiting {
  report: StepReport;
  done: () => void;
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
  ) {
    for (const id of runIds) {
      const g = this.groups.get(id) ?? { open: 0, waiting: [] };
      g.open += 1;
      this.groups.set(id, g);
    }
  }

  /** Resolves once the report has reached the run object (or rejects after the last try). */
  report(runId: string, report: StepReport): Promise<void> {
    const g = this.group(runId);
    return new Promise<void>((done, failed) => {
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
        await run.report(batch.map((w) => w.report));
        for (const w of batch) w.done();
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
