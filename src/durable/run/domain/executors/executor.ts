// The interface every kind of step answers: how an attempt starts on it, which deadline it then
// has, and what happens when that deadline passes. The attempt protocol (work.ts) asks these and
// never switches on a kind; adding a kind is one module here and one line in index.ts.
import type { z } from "zod";
import type { StepError } from "../../../../execution/step-error";
import type { Tool } from "../../../../tools/tool";
import type { Machine } from "../machine";
import type { AgentCallState, AttemptState, ModelCallState, StepState, UndoState } from "../state";

/**
 * Attempt-bearing work: a plan step, the undo of one, and inside an agent step, each model call
 * and each tool call the model asked for (`step` is the agent step they belong to).
 */
export type Work =
  | { kind: "step"; s: StepState }
  | { kind: "undo"; s: UndoState }
  | { kind: "model"; s: ModelCallState; step: StepState }
  | { kind: "call"; s: AgentCallState; step: StepState };

/** The attempt protocol's operations, handed to a step kind that starts work of its own (the agent loop). */
export interface WorkOps {
  start(m: Machine, work: Work): void;
  succeed(m: Machine, work: Work, output: unknown): void;
  failForGood(m: Machine, work: Work, attempt: number, error: StepError): void;
}

/** The fields an executor adds to the event that begins an attempt. */
export interface BeginFields {
  lease_until?: number;
  resend_at?: number;
  wake_at?: number;
  idempotency_key?: string;
}

/** One attempt of one piece of work, as an executor sees it: the protocol's operations, bound to it. */
export interface Attempt {
  m: Machine;
  work: Work;
  attempt: number;
  /** The run's step timeout. */
  timeoutMs: number;
  /** The input the attempt was (or is) given, resolved: what a message sent again carries. */
  input: unknown;
  /** Emits the event that begins the attempt, with the executor's own fields; answers the dispatch (its seq). */
  begin(fields?: BeginFields): number;
  /** The attempt succeeded. `duration_ms` defaults to the time since it began. */
  succeed(output: unknown, extra?: { duration_ms?: number; signal?: number }): void;
  /** The attempt failed: retried by the run's retry policy, or failed for good. */
  fail(error: StepError): void;
  /** The work failed for good, whatever the retry policy says. */
  failForGood(error: StepError): void;
  /** The key the attempt's side effects are recorded under (absent: the consumer's default, run:step). */
  idempotencyKey(): string | undefined;
}

/** An attempt about to start: its tool and its input, parsed by the tool's schema (what the tool gets). */
export interface Start<T extends Tool> extends Omit<Attempt, "input"> {
  tool: T;
  input: T extends { input_schema: infer S extends z.ZodType } ? z.output<S> : never;
}

export interface Executor<T extends Tool = Tool> {
  start(a: Start<T>): void;
  /** When the watchdog must look at a running or waiting attempt (null: nothing to wait for). */
  deadline(w: AttemptState): number | null;
  /** The deadline passed. */
  expire(a: Attempt & { tool: T }): void;
  /**
   * A step that runs work of its own (an agent's loop) moves it on: the decider calls this for
   * each of its steps that runs or waits, after anything changed, until nothing does.
   */
  advance?(m: Machine, s: StepState, ops: WorkOps): void;
  /** Whether the step has work in flight whose effect a cancel must wait for (beyond its own queued attempt). */
  effectInFlight?(s: StepState): boolean;
}
