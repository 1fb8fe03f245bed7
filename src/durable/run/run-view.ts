// The run resource served by GET /runs/{id}: a read-only view of the folded state.
import { TERMINAL_RUN_STATUSES } from "../../execution/statuses";
import { compensationOf } from "./domain/compensation";
import { modelCalls, stepSpend } from "./domain/queries";
import type { ExecutionLogEntry, RunResource } from "./domain/run-resource";
import type { AgentTurn, CompensationState, RunState, StepState } from "./domain/state";

export type { ExecutionLogEntry, RunResource } from "./domain/run-resource";

export const TERMINAL_STATUSES: ReadonlySet<string> = new Set(TERMINAL_RUN_STATUSES);

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function runView(state: RunState): RunResource {
  const steps = [...state.steps.values()].sort((a, b) => a.step_number - b.step_number);
  return {
    run_id: state.run_id,
    tenant: state.tenant,
    prompt: state.prompt,
    status: state.status,
    plan: state.plan,
    options: state.options,
    execution_log: steps.map((s) => ({
      step_number: s.step_number,
      tool: s.tool,
      // Resolved once the step starts; before that, the planned input with its references.
      input: s.attempts > 0 || s.status === "succeeded" ? s.resolved_input : s.input,
      status: s.status,
      output: s.status === "succeeded" ? s.output : s.agent && s.status === "failed" ? unfinishedAgent(s.agent) : null,
      error: s.error ? { code: s.error.code, message: s.error.message } : null,
      attempts: s.attempts,
      deferrals: s.deferrals,
      started_at: s.started_at,
      completed_at: s.completed_at,
      duration_ms: s.duration_ms,
      next_attempt_at: iso(s.retry_at),
      // A decision's deadline, or when a sleeping (timer) step wakes.
      waiting_until: iso(s.wait_until ?? (s.status === "running" ? s.wake_at : null)),
      skip_reason: s.skip_reason,
      compensate: compensationOf(s),
      // The step's whole spend, nested agents' included: what its budget bounds.
      ...(s.agent ? { turns: s.agent.turns.map(turnView), usage: stepSpend(s.agent) } : {}),
    })),
    compensation: state.compensation ? compensationView(state.compensation) : null,
    result: state.status === "completed" ? state.result : null,
    error: state.error,
    trace_id: state.trace_id,
    schedule_id: state.schedule?.schedule_id ?? null,
    scheduled_for: state.schedule?.scheduled_for ?? null,
    rerun_of: state.rerun_of,
    created_at: state.created_at,
    started_at: state.started_at,
    completed_at: state.completed_at,
    last_event_seq: state.last_seq,
    parent_run_id: state.parent?.run_id ?? null,
    children: state.children.map((c) => ({ run_id: c.run_id, step: c.step, ...(c.call === undefined ? {} : { call: c.call }), status: c.status })),
  };
}

/**
 * An agent step that ended without an answer (its budget, max_turns, an invalid answer) still
 * says what it did: no answer, and the transcript so far, so a caller can use or resume from it.
 */
function unfinishedAgent(agent: NonNullable<StepState["agent"]>) {
  return { answer: null, turns: agent.turns.length, tool_calls: agent.calls, usage: stepSpend(agent), transcript: agent.turns.map(turnView) };
}

function turnView(t: AgentTurn): NonNullable<ExecutionLogEntry["turns"]>[number] {
  return {
    turn: t.turn,
    status: t.model.status,
    text: t.text,
    usage: t.usage,
    attempts: t.model.attempts,
    calls: t.calls.map((c) => ({
      call: c.call,
      tool: c.tool,
      input: c.input,
      status: c.status,
      output: c.status === "succeeded" ? c.output : null,
      error: c.error && c.status === "failed" ? { code: c.error.code, message: c.error.message } : null,
      comment: c.comment,
      attempts: c.attempts,
    })),
  };
}

/** What a run's agent steps' model calls used, for GET /runs/{id}/usage. */
export function llmUsage(state: RunState): { calls: number; input_tokens: number; output_tokens: number; cost_usd: number } {
  const agents = [...state.steps.values()].flatMap((s) => (s.agent ? [s.agent] : []));
  return {
    calls: agents.reduce((n, a) => n + modelCalls(a), 0),
    input_tokens: agents.reduce((n, a) => n + a.usage.input_tokens, 0),
    output_tokens: agents.reduce((n, a) => n + a.usage.output_tokens, 0),
    cost_usd: agents.reduce((n, a) => n + a.usage.cost_usd, 0),
  };
}

function compensationView(c: CompensationState): NonNullable<RunResource["compensation"]> {
  const failed = c.steps.filter((u) => u.status === "failed");
  return {
    status: c.status,
    reason: c.reason,
    error:
      c.status === "failed"
        ? {
            code: "compensation_failed",
            message: failed.map((u) => `Undoing step ${u.step_number} (${u.tool}) failed: ${u.error?.message ?? "unknown error"}`).join(" "),
          }
        : null,
    steps: c.steps.map((u) => ({
      step_number: u.step_number,
      ...(u.call !== null ? { call: u.call } : {}),
      tool: u.tool,
      input: u.attempts > 0 ? u.resolved_input : u.input,
      status: u.status,
      attempts: u.attempts,
      output: u.status === "succeeded" ? u.output : null,
      error: u.error ? { code: u.error.code, message: u.error.message } : null,
      started_at: u.started_at,
      completed_at: u.completed_at,
      next_attempt_at: iso(u.status === "pending" ? u.retry_at : null),
    })),
  };
}
