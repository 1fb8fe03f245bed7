// The shapes of a run's folded state (fold.ts builds it from the events). Types and the empty state
// only: every module of the run reads these, so this file imports nothing that does.
import type { Plan } from "../../../execution/plan-schema";
import { resolveOptions, type ResolvedOptions } from "../../../execution/run-options";
import type { StepError } from "../../../execution/step-error";
import {
  TERMINAL_RUN_STATUSES,
  TERMINAL_STEP_STATUSES,
  type CompensationStatus,
  type RunStatus,
  type StepStatus,
  type UndoStatus,
} from "../../../execution/statuses";
import type { ParentLink, RunError, RunEventData, RunEventType, RunLlm, RunSchedule } from "./events";

export type { RunStatus, StepStatus };

/**
 * What every piece of attempt-bearing work has, whatever it is (a plan step, the undo of one):
 * the attempt protocol (work.ts) reads and the fold writes exactly these.
 */
export interface AttemptState {
  step_number: number;
  tool: string;
  /** As written: references unresolved. */
  input: Record<string, unknown>;
  /** The attempt currently running (0 before the first). */
  attempt: number;
  /** Attempts started (deferred dispatches are not attempts). */
  attempts: number;
  /** Dispatches an open breaker turned away before the tool ran. */
  deferrals: number;
  /** When the current wait on an open breaker began (epoch ms), for max_deferral_ms. */
  deferred_since: number | null;
  /** The seq of the event that began the current attempt: reports must name it. */
  dispatch_seq: number | null;
  resolved_input: unknown;
  output: unknown;
  error: StepError | null;
  started_at: string | null;
  started_ms: number | null;
  completed_at: string | null;
  /** Watchdog deadlines, epoch ms: at most one is set while an attempt runs or waits (resend_at aside). */
  lease_until: number | null;
  /**
   * A queued attempt with no report by then has its message sent again (same dispatch, same
   * lease): it may have been lost. Earlier than lease_until; null once no copy is due.
   */
  resend_at: number | null;
  /** Copies of the current attempt's message sent again so far. */
  resends: number;
  retry_at: number | null;
  wake_at: number | null;
  wait_until: number | null;
}

export interface StepState extends AttemptState {
  depends_on: number[];
  reasoning: string;
  status: StepStatus;
  skip_reason: string | null;
  duration_ms: number | null;
  /** How long the last reported attempt's message waited for a consumer (queued steps), for GET /metrics. */
  queue_ms: number | null;
  /** A rerun took this step's output over from the run it forks: it never ran here. */
  reused: boolean;
  /** Queued under the earlier claim-based protocol and never started: when to dispatch it again. */
  dispatch_deadline: number | null;
  /** The seq of the event that succeeded it: compensations run in reverse order of it. */
  succeeded_seq: number | null;
  /** How often its effect was undone and the step reset by a resume: keys its next attempts apart. */
  undone: number;
  /** How often a resume reset the step: a child run it starts after that is a new child, not the one that failed. */
  generation: number;
  /** An Agent.run step's loop (null for every other step, and before it starts). */
  agent: AgentState | null;
}

/** Undoing one succeeded step (or one call an agent step made): attempt-bearing work of its own, like a step. */
export interface UndoState extends AttemptState {
  status: UndoStatus;
  /** The agent's call this undoes (null: the step itself). */
  call: number | null;
}

/** Tokens and dollars an agent's model calls used, as reported (cost from the run's price table). */
export interface LlmUsage {
  input_tokens: number;
  output_tokens: number;
  cost_usd: number;
}

/** One model call of an agent's turn: work like a step (tool LLM.call, run by a consumer). */
export interface ModelCallState extends AttemptState {
  turn: number;
  status: "pending" | "running" | "succeeded" | "failed";
  /** A consumer is making the current attempt's call (llm.call_began): no other delivery of it may. */
  began: boolean;
}

export type AgentCallStatus = "pending" | "running" | "waiting" | "succeeded" | "failed" | "rejected" | "forbidden";

/** One tool call the model asked for: work like a step, through the executor of its tool. */
export interface AgentCallState extends AttemptState {
  /** Numbered 1, 2, … across the step's turns: a decision names it. */
  call: number;
  turn: number;
  status: AgentCallStatus;
  /** A person's comment on it (rejected or approved), or why it may not run (forbidden). */
  comment: string | null;
  /** Whether a person approved it (it waited for one). */
  approved: boolean;
  /** The seq of the event that succeeded it: undone in reverse order of it, with the plan's steps. */
  succeeded_seq: number | null;
  duration_ms: number | null;
}

export interface AgentTurn {
  turn: number;
  model: ModelCallState;
  /** The model's text: as streamed while the call runs, then as answered. */
  text: string;
  usage: LlmUsage | null;
  /** The calls the model asked for in this turn. */
  calls: AgentCallState[];
  /** After an answer that failed output_schema: the repair request the next turn sends. */
  repair: string | null;
  /** The size of the prompt its model call was sent: with the reported input tokens, it calibrates the next estimate. */
  prompt_bytes: number;
}

export interface AgentState {
  turns: AgentTurn[];
  /** What this step's own model calls used. */
  usage: LlmUsage;
  /** What its nested agents (child runs it started by calling Agent.run) used, told by each as it ended. */
  nested: LlmUsage;
  /** Calls asked for so far (the last call's number). */
  calls: number;
  /** The last answered call's reported input tokens and its prompt's size: calibrates the next estimate. */
  calibration: { input_tokens: number; prompt_bytes: number } | null;
}

export interface CompensationState {
  status: CompensationStatus;
  reason: "run_failed" | "cancelled";
  /** What the run fails with once compensation has ended (null: it was cancelled). */
  error: RunError | null;
  /** In the order they run. */
  steps: UndoState[];
}

/** A child run, as this run last heard of it. */
export interface ChildLink {
  step: number;
  /** The agent's call that started it (a nested agent); absent for a Run.start step's child. */
  call?: number;
  run_id: string;
  /** The child's status: as created, then as it reported its end. */
  status: string;
  wait: boolean;
}

export interface FamilyState {
  parent: ParentLink | null;
  /** In the order they were started; a step re-run after an undo starts a second child. */
  children: ChildLink[];
  /** The parent acknowledged this run's end (child runs only). */
  parent_notified: boolean;
}

/** A signal sent to the run, and the step that took it (null: still buffered). */
export interface ReceivedSignal {
  seq: number;
  name: string;
  payload: unknown;
  taken_by: number | null;
}

export interface RunState extends FamilyState {
  run_id: string;
  /** The tenant that owns the run; "" for runs made before tenants existed (nobody's). */
  tenant: string;
  prompt: string | null;
  status: RunStatus;
  plan: Plan | null;
  options: ResolvedOptions;
  request_hash: string;
  trace_id: string;
  /** The span of the request that created the run, when spans are exported. */
  parent_span_id: string | null;
  /** Days the run is kept once it ended; null: RUN_RETENTION_DAYS (runs created before it was recorded). */
  retention_days: number | null;
  steps: Map<number, StepState>;
  result: unknown;
  error: RunError | null;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  last_seq: number;
  /** The run holds a slot under its tenant's cap while in flight, to give back when it ends. */
  holds_slot: boolean;
  /** Which of its tenant's limiter shards granted that slot (0: the limiter of before shards). */
  slot_shard: number;
  /** The run's deadline (epoch ms): created_at + run_timeout_ms. */
  deadline: number | null;
  /** Signals received, in order; Wait.signal steps take the oldest of their name not yet taken. */
  signals: ReceivedSignal[];
  /** A cancel that asked for compensation is under way: its reason (null: none). */
  cancelling: string | null;
  compensation: CompensationState | null;
  /** Paused: nothing new is dispatched until it is resumed. */
  paused: boolean;
  /** The schedule occurrence that started the run; null for runs started otherwise. */
  schedule: RunSchedule | null;
  /** The run's own webhook URL, called when it ends (null: none). */
  webhook_url: string | null;
  /** The event types the tenant subscribed webhooks to when the run was created. */
  webhook_events: string[];
  /** The run this one was forked from (POST /runs/{id}/rerun); null: none. */
  rerun_of: string | null;
  /** For agent steps: the default model and the prices in force when the run was created (null: no model was configured). */
  llm: RunLlm | null;
}

/** How each event changes the state; fold.ts and its sibling folds each provide some of them. */
export type Handlers = { [T in RunEventType]: (state: RunState, data: RunEventData[T], at: string, seq: number) => void };

export const TERMINAL_RUN: ReadonlySet<RunStatus> = new Set(TERMINAL_RUN_STATUSES);
export const TERMINAL_STEP: ReadonlySet<StepStatus> = new Set(TERMINAL_STEP_STATUSES);

/** The attempt fields of work that has not begun. */
export const noAttempt = (): Omit<AttemptState, "step_number" | "tool" | "input"> => ({
  attempt: 0,
  attempts: 0,
  deferrals: 0,
  deferred_since: null,
  dispatch_seq: null,
  resolved_input: null,
  output: null,
  error: null,
  started_at: null,
  started_ms: null,
  completed_at: null,
  lease_until: null,
  resend_at: null,
  resends: 0,
  retry_at: null,
  wake_at: null,
  wait_until: null,
});

/** The outputs of the steps that succeeded, for resolving references. */
export function stepOutputs(state: RunState): Map<number, unknown> {
  const out = new Map<number, unknown>();
  for (const s of state.steps.values()) if (s.status === "succeeded") out.set(s.step_number, s.output);
  return out;
}

export function emptyState(): RunState {
  return {
    run_id: "",
    tenant: "",
    prompt: null,
    status: "pending",
    plan: null,
    options: resolveOptions(undefined),
    request_hash: "",
    trace_id: "",
    parent_span_id: null,
    retention_days: null,
    steps: new Map(),
    result: null,
    error: null,
    created_at: "",
    started_at: null,
    completed_at: null,
    last_seq: 0,
    holds_slot: false,
    slot_shard: 0,
    deadline: null,
    signals: [],
    cancelling: null,
    compensation: null,
    paused: false,
    schedule: null,
    webhook_url: null,
    webhook_events: [],
    rerun_of: null,
    llm: null,
    parent: null,
    children: [],
    parent_notified: false,
  };
}
