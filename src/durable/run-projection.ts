import { sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { runs, steps } from "../db/schema";
import { TERMINAL_RUN, type RunState } from "./run-state";

/**
 * Projects a run into the D1 read model. Written at a run's milestones (creation, end, cancel,
 * resume), not per event, because one D1 database serves every run. Each row carries the
 * `projected_seq` it reflects and only moves forward, so replaying a projection changes nothing
 * and a late write can never overwrite a newer one.
 */
const STEP_COLUMNS = 10;
const D1_MAX_PARAMS = 100;

/** Returns what the write cost in D1: statements run and rows written. */
export async function projectRun(db: D1Database, state: RunState): Promise<{ statements: number; rows_written: number }> {
  const d = drizzle(db);
  const seq = state.last_seq;
  const runRow = {
    run_id: state.run_id,
    tenant: state.tenant,
    prompt: state.prompt,
    status: state.status,
    planner: state.plan?.planner ?? "rules",
    fallback_reason: state.plan?.fallback_reason ?? null,
    step_count: state.steps.size,
    result: state.status === "completed" ? JSON.stringify(state.result ?? null) : null,
    error_code: state.error?.code ?? null,
    error_message: state.error?.message ?? null,
    created_at: state.created_at,
    started_at: state.started_at,
    completed_at: state.completed_at,
    projected_seq: seq,
  };
  const { run_id: _id, created_at: _c, ...runUpdate } = runRow;
  const statements = [
    d
      .insert(runs)
      .values(runRow)
      .onConflictDoUpdate({ target: runs.run_id, set: runUpdate, setWhere: sql`${runs.projected_seq} < ${seq}` }),
  ];
  // Step rows matter for history once a run has ended; while it runs the run object answers.
  if (TERMINAL_RUN.has(state.status)) {
    const rows = [...state.steps.values()].map((s) => ({
      run_id: state.run_id,
      step_number: s.step_number,
      tool: s.tool,
      status: s.status,
      attempts: s.attempts,
      error_code: s.error?.code ?? null,
      started_at: s.started_at,
      completed_at: s.completed_at,
      duration_ms: s.duration_ms,
      projected_seq: seq,
    }));
    const perStatement = Math.floor(D1_MAX_PARAMS / STEP_COLUMNS);
    for (let i = 0; i < rows.length; i += perStatement) {
      statements.push(
        d
          .insert(steps)
          .values(rows.slice(i, i + perStatement))
          .onConflictDoUpdate({
            target: [steps.run_id, steps.step_number],
            set: {
              status: sql`excluded.status`,
              attempts: sql`excluded.attempts`,
              error_code: sql`excluded.error_code`,
              started_at: sql`excluded.started_at`,
              completed_at: sql`excluded.completed_at`,
              duration_ms: sql`excluded.duration_ms`,
              projected_seq: sql`excluded.projected_seq`,
            },
            setWhere: sql`${steps.projected_seq} < excluded.projected_seq`,
          }) as unknown as (typeof statements)[number],
      );
    }
  }
  const results = (await d.batch(statements as [(typeof statements)[number], ...(typeof statements)[number][]])) as { meta?: { rows_written?: number } }[];
  return { statements: statements.length, rows_written: results.reduce((n, r) => n + (r.meta?.rows_written ?? 0), 0) };
}
