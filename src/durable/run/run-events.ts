// Every change of a run is one of these, appended to the run object's SQLite log with a gap-free
// `seq`. The run resource is a fold of them (run-state.ts); nothing else holds run state.
// Times that the watchdog compares (`*_deadline`, `*_at` in ms) are epoch milliseconds.
import type { StepError } from "../../execution/step-error";
import type { RunOptions } from "../../execution/run-options";
import type { Plan } from "../../execution/plan-schema";

/** The error a run ends failed with. */
export interface RunError {
  code: string;
  message: string;
  step_number?: number;
}

/** The schedule occurrence that started a run. */
export interface RunSchedule {
  schedule_id: string;
  /** The occurrence's time (ISO 8601), or the moment of a manual trigger. */
  scheduled_for: string;
}

export interface RunEventData {
  /**
   * `holds_slot`: the run took a slot under its tenant's cap (absent in older logs, where every run with a tenant did).
   * `schedule`: the schedule occurrence that started the run (absent for runs started otherwise, and in older logs).
   * `webhook`: the run's own webhook, called when it ends; `webhook_events`: the event types its
   * tenant had webhook subscriptions for when it was created. Both absent in older logs and
   * when there is none.
   * `parent_span_id`: the span of the request that created it (absent when spans are not exported).
   * `retention_days`: how long the run is kept once it ended (absent in older logs: RUN_RETENTION_DAYS).
   * `parent`: the run and step (Run.start) that started this run, and how deep it is (a top-level run: absent).
   */
  "run.created": {
    run_id: string;
    tenant?: string;
    prompt: string | null;
    options: RunOptions;
    request_hash: string;
    trace_id: string;
    holds_slot?: boolean;
    schedule?: RunSchedule;
    webhook?: { url: string };
    webhook_events?: string[];
    parent_span_id?: string;
    retention_days?: number;
    /** A rerun (POST /runs/{id}/rerun): the run it was forked from. */
    rerun_of?: string;
    parent?: ParentLink;
  };
  "plan.accepted": { plan: Plan };
  "run.started": Record<string, never>;
  /** Written by the earlier claim-based protocol only; still folded so older logs read back. */
  "step.queued": { step: number; attempt: number; dispatch_deadline: number };
  /** Written by the earlier claim-based protocol only. */
  "step.redispatched": { step: number; attempt: number; dispatch_deadline: number; reason: string };
  /**
   * A dispatch: the step's input is resolved and the attempt begins. A queued step holds a lease
   * until `lease_until` (its message is the lease; the event's seq names the dispatch); a timer
   * wakes at `wake_at`; an inline step ends in the same turn.
   */
  "step.started": {
    step: number;
    attempt: number;
    input: unknown;
    lease_until?: number;
    wake_at?: number;
    executor?: "queue" | "inline" | "timer" | "await" | "child";
    /** A queued step run again after compensation undid it: the key its effects are recorded under (absent: run_id:step). */
    idempotency_key?: string;
  };
  /**
   * An "await" step began to wait (an approval): it is the step's dispatch, like step.started,
   * and holds nothing but its deadline `until`, when the tool's on_timeout decides for it.
   */
  "step.waiting": { step: number; attempt: number; input: unknown; kind: "approval" | "signal"; until: number };
  /**
   * A waiting approval was decided: by a person (`decided_by`: their API key's id) or by its
   * timeout (`decided_by` "timeout", `timed_out` true). Approve succeeds the step, reject fails it.
   */
  "step.decided": { step: number; attempt: number; decision: "approve" | "reject"; comment: string | null; decided_by: string; timed_out?: boolean };
  /** `signal`: the seq of the signal.received a Wait.signal step took as its output. */
  /** `queue_ms` (queued steps): how long the attempt's message waited for a consumer. */
  "step.succeeded": { step: number; attempt: number; output: unknown; duration_ms: number; signal?: number; queue_ms?: number };
  "step.retry_scheduled": { step: number; attempt: number; error: StepError; delay_ms: number; retry_at: number; queue_ms?: number };
  "step.failed": { step: number; attempt: number; error: StepError; queue_ms?: number };
  "step.skipped": { step: number; reason: "dependency_failed" | "run_failed" | "cancelled" | "run_timeout" };
  /**
   * A rerun took this step's recorded input and output from the run it was forked from, in the
   * command that created it: the step counts as succeeded and is never executed in this run.
   */
  "step.reused": { step: number; input: unknown; output: unknown; from_run_id: string };
  "run.completed": { result: unknown };
  "run.failed": { error: RunError };
  "run.cancelled": { reason: string };
  /**
   * A cancel that asked for compensation: nothing new starts, steps already in flight finish and
   * are recorded, then the run compensates and ends cancelled.
   */
  "run.cancelling": { reason: string };
  /**
   * The run undoes what its succeeded steps did, one at a time in `steps`' order (reverse order of
   * completion), each with the call written in the plan or the tool's default. `error`: what the
   * run fails with once compensation has ended (absent when it was cancelled).
   */
  "compensation.started": { reason: "run_failed" | "cancelled"; error?: RunError; steps: { step: number; tool: string; input: Record<string, unknown> }[] };
  /** An attempt to undo a step begins; its seq names the dispatch, as step.started's does. */
  "compensation.step_started": { step: number; attempt: number; input: unknown; executor: "inline" | "queue"; lease_until?: number; idempotency_key?: string };
  "step.compensated": { step: number; attempt: number; output: unknown; duration_ms: number };
  /**
   * An attempt to undo a step failed. With `retry_at` it is tried again then (`deferred`: an open
   * breaker turned it away before the tool ran, and the attempt is given back); without, for good.
   */
  "step.compensation_failed": { step: number; attempt: number; error: StepError; retry_at?: number; deferred?: boolean };
  "compensation.completed": Record<string, never>;
  /** Compensation ended with these steps not undone. */
  "compensation.failed": { steps: number[] };
  "run.resumed": { steps: number[] };
  /**
   * Nothing new is dispatched until run.unpaused: steps in flight finish and are recorded, and
   * timers, retries and approvals keep their deadlines (what they free waits for the resume).
   */
  "run.paused": { reason: string };
  "run.unpaused": Record<string, never>;
  /**
   * An open breaker turned the dispatch away before the tool ran: the step waits until
   * `retry_at` and the attempt is given back (deferrals are counted apart).
   */
  "step.deferred": { step: number; attempt: number; error: StepError; retry_at: number };
  /**
   * A signal sent to the run (POST /runs/{id}/signals/{name}). It stays in the run's buffer until
   * a Wait.signal step for its name takes it (that step.succeeded names this seq), or for good.
   */
  "signal.received": { name: string; payload: unknown };
  "breaker.opened": { tool: string; cooldown_ms: number; reason: string };
  /** `steps`: the steps that were waiting on the breaker and may go now (absent in older logs). */
  "breaker.half_opened": { tool: string; steps?: number[] };
  "breaker.closed": { tool: string; steps?: number[] };
  /**
   * A Run.start step's child run exists (`status` as it stood when created). With `wait` the step
   * now waits for the child's end, which the child reports (child.ended); without, it succeeds.
   */
  "child.started": { step: number; run_id: string; wait: boolean; status: string };
  /** A child run ended (it said so itself); a waiting step succeeds or fails with it in the same command. */
  "child.ended": { step: number; run_id: string; status: string };
  /** This run's parent acknowledged its end: nothing is left to tell it. */
  "parent.notified": { status: string };
}

/** Where a child run comes from. Depth 1 is a child of a top-level run. */
export interface ParentLink {
  run_id: string;
  step: number;
  depth: number;
}

export type RunEventType = keyof RunEventData;

export interface RunEvent<T extends RunEventType = RunEventType> {
  seq: number;
  type: T;
  at: string;
  data: RunEventData[T];
}
