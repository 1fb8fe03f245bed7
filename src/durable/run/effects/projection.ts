// Projects a run into the D1 read model: one row per milestone (creation, a wait, end, cancel,
// resume), never per event, because one D1 database serves many runs. An ended run's steps ride
// in the same row as JSON, so the end of a run is one statement; a row while the run is in flight
// rides the read-model queue instead (projector.ts, read-model-queue.ts). Each row carries the
// `projected_seq` it reflects and only moves forward, so replaying a projection changes nothing
// and a late write can never overwrite a newer one. The metric rollups take the row later, off this
// path (src/scheduled/roll-up-metrics.ts); the row carries D1's time of writing for their projection lag.
import type { ReadModelRow } from "../../../db/run-rows";
import { dbFor } from "../../../db/shards";
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

/** The D1 database that holds `tenant`'s read model (its shard, src/db/shards.ts): the one place the run path chooses it. */
export function readModelFor(env: Env, tenant: string): D1Database {
  return dbFor(env, tenant);
}

/** The row's values, in READ_MODEL_COLUMNS' order (src/db/run-rows.ts): what the upsert binds, and what a queued row carries. */
export function rowOf(state: RunState): ReadModelRow {
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
  const row = [
    state.run_id,
    state.tenant,
    state.prompt,
    state.status,
    state.plan?.planner ?? "rules",
    state.plan?.fallback_reason ?? null,
    state.steps.size,
    state.status === "completed" ? JSON.stringify(state.result ?? null) : null,
    state.error?.code ?? null,
    state.error?.message ?? null,
    state.created_at,
    state.started_at,
    state.completed_at,
    state.last_seq,
    steps,
    state.schedule?.schedule_id ?? null,
    state.schedule?.scheduled_for ?? null,
    expiresAtIso(state),
    state.plan ? `,${[...new Set(state.plan.steps.map((s) => s.tool))].join(",")},` : null,
    state.rerun_of,
  ];
  // D1 binds no `undefined`: a field a stored state lacks (an older log's) is written as NULL, as drizzle did.
  return row.map((v) => v ?? null);
}
