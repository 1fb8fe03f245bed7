// Projects a run into the D1 read model: one statement per milestone (creation, end, cancel,
// resume), never per event, because one D1 database serves every run. An ended run's steps ride
// in the same row as JSON, so the end of a run is one statement too. Each row carries the
// `projected_seq` it reflects and only moves forward, so replaying a projection changes nothing
// and a late write can never overwrite a newer one. The metric rollups take the row later, off this
// path (src/scheduled/roll-up-metrics.ts); the row carries D1's time of writing for their projection lag.
import { sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { runs } from "../../../db/schema";
import type { AgentInput } from "../../../tools/agent-run/agent-input";
import { expiresAtIso } from "./retention";
import { modelOf } from "../domain/agent/model-input";
import { modelCalls } from "../domain/queries";
import { TERMINAL_RUN, type RunState, type StepState } from "../domain/state";

/**
 * What an agent step's model calls used, for GET /metrics' token and cost counters: the step's
 * whole usage so far (a resume keeps it), so the rollup counts only what grew since the ending it
 * counted before. Cost in nano-dollars, an integer, so sums are exact in any order.
 */
function llmSummary(state: RunState, s: StepState) {
  const agent = s.agent!;
  return {
    model: modelOf(state, (s.resolved_input ?? s.input) as AgentInput),
    calls: modelCalls(agent),
    input_tokens: agent.usage.input_tokens,
    output_tokens: agent.usage.output_tokens,
    cost_nano: Math.round(agent.usage.cost_usd * 1e9),
  };
}

/** Returns what the write cost in D1: statements run and rows written. */
export async function projectRun(db: D1Database, state: RunState): Promise<{ statements: number; rows_written: number }> {
  const seq = state.last_seq;
  // Step summaries matter for history once a run has ended; while it runs the run object answers.
  const steps = TERMINAL_RUN.has(state.status)
    ? JSON.stringify(
        [...state.steps.values()].map((s) => ({
          step_number: s.step_number,
          tool: s.tool,
          status: s.status,
          attempts: s.attempts,
          error_code: s.error?.code ?? null,
          // GET /metrics counts a step skipped because its run was cancelled as cancelled.
          skip_reason: s.skip_reason,
          started_at: s.started_at,
          completed_at: s.completed_at,
          duration_ms: s.duration_ms,
          queue_ms: s.queue_ms,
          // GET /metrics does not count a step a rerun took over: it ran, and counted, in the original.
          ...(s.reused ? { reused: true } : {}),
          ...(s.agent ? { llm: llmSummary(state, s) } : {}),
        })),
      )
    : null;
  const row = {
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
    steps,
    schedule_id: state.schedule?.schedule_id ?? null,
    scheduled_for: state.schedule?.scheduled_for ?? null,
    expires_at: expiresAtIso(state),
    tools: state.plan ? `,${[...new Set(state.plan.steps.map((s) => s.tool))].join(",")},` : null,
    rerun_of: state.rerun_of,
    projected_at: sql`strftime('%Y-%m-%dT%H:%M:%fZ', 'now')`,
  };
  const { run_id: _id, ...update } = row;
  // A row of another run with the same id (an Idempotency-Key used again after its first run was
  // deleted by retention, before the sweep took its row) is replaced whatever its seq.
  const result = await drizzle(db)
    .insert(runs)
    .values(row)
    .onConflictDoUpdate({ target: runs.run_id, set: update, setWhere: sql`${runs.projected_seq} < ${seq} OR ${runs.created_at} <> ${row.created_at}` })
    .run();
  return { statements: 1, rows_written: result.meta.rows_written ?? 0 };
}
