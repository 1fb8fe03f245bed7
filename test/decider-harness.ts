// A run's decider driven without a Durable Object: a Machine whose events fold into an in-memory
// state and whose clock the test sets. Shared by the decider's table tests and compensation's.
import { expect } from "vitest";
import type { RunEvent, RunEventData, RunEventType } from "../src/durable/run/domain/events";
import { advance, nextDeadline, type Machine } from "../src/durable/run/domain/decide";
import { applyEvent } from "../src/durable/run/domain/fold";
import { emptyState, type RunState, type StepState } from "../src/durable/run/domain/state";
import { leaseFor, resendAfter, type RunOptions } from "../src/execution/run-options";
import type { StepMessage } from "../src/execution/step-protocol";

export const T0 = Date.UTC(2025, 0, 1);
/** T0 plus `ms`: every time in these tests is relative to the run's creation. */
export const at = (ms: number) => T0 + ms;
export const STEP_TIMEOUT = 1000;
export const LEASE = leaseFor(STEP_TIMEOUT);
/** When a queued attempt with no report has its message sent again, in a run that has heard no report's queue_ms. */
export const RESEND = resendAfter(null, STEP_TIMEOUT);
export const RUN_TIMEOUT = 3_600_000;
/** Agent steps' model: the default, and one with a price (USD per million tokens). */
export const LLM = { model: "test-model", prices: { "priced-model": { input_per_million: 100, output_per_million: 200 } } };

// With the machine's random at 0.5 (Run.random) the backoff after attempt n is half its cap: 500, 1000, 2000 ms.
export const BASE_OPTIONS = {
  retry: { max_attempts: 3, initial_delay_ms: 1000, max_delay_ms: 8000 },
  step_timeout_ms: STEP_TIMEOUT,
  run_timeout_ms: RUN_TIMEOUT,
} satisfies RunOptions;

export const options = (o: RunOptions = {}): RunOptions => ({ ...BASE_OPTIONS, ...o, retry: { ...BASE_OPTIONS.retry, ...o.retry } });

export interface StepSpec {
  step_number: number;
  tool: string;
  input: Record<string, unknown>;
  depends_on?: number[];
  compensate?: { tool: string; input: Record<string, unknown> } | null;
}

export type Command<R> = { result: R; events: RunEvent[]; sent: StepMessage[] };

/** One run's state, log and outbox; each command runs the decider at a time the test gives. */
export class Run {
  readonly state: RunState = emptyState();
  readonly log: RunEvent[] = [];
  readonly sent: StepMessage[] = [];
  /** How long each inline tool call appears to take: the clock moves this much per read. */
  toolMs = 0;
  /** What the machine's random answers: the jitter of every retry delay. */
  random = 0.5;

  static create(steps: StepSpec[], runOptions: RunOptions = options()): Run {
    const run = new Run();
    run.command(T0, (m) => {
      m.emit("run.created", {
        run_id: "run_test",
        tenant: "tenant_test",
        prompt: null,
        options: runOptions,
        request_hash: "hash",
        trace_id: "trace_test",
        llm: LLM,
      });
      m.emit("plan.accepted", { plan: { plan_id: "plan_test", planner: "explicit", steps: steps.map((s) => ({ reasoning: "", depends_on: [], ...s })) } });
    });
    return run;
  }

  command<R>(now: number, decide: (m: Machine) => R): Command<R> {
    const from = this.log.length;
    const sentFrom = this.sent.length;
    let reads = 0;
    const m: Machine = {
      state: this.state,
      now,
      clock: () => now + this.toolMs * reads++,
      random: () => this.random,
      emit: (type, data) => this.append(now, type, data),
      send: (message) => void this.sent.push(message),
    };
    const result = decide(m);
    this.checkInvariants(now);
    return { result, events: this.log.slice(from), sent: this.sent.slice(sentFrom) };
  }

  step(n: number): StepState {
    return this.state.steps.get(n)!;
  }

  running(): StepState[] {
    return [...this.state.steps.values()].filter((s) => s.status === "running");
  }

  private append<T extends RunEventType>(now: number, type: T, data: RunEventData[T]): number {
    const event = { seq: this.state.last_seq + 1, type, at: new Date(now).toISOString(), data } as RunEvent;
    applyEvent(this.state, event);
    this.log.push(event);
    return event.seq;
  }

  private checkInvariants(now: number): void {
    const steps = [...this.state.steps.values()];
    const inFlight = steps.filter((s) => s.status === "running" || s.status === "queued").length;
    expect(inFlight, "steps in flight").toBeLessThanOrEqual(this.state.options.max_parallelism);
    // After a command, a retry that is due either went out or waits for a slot; only in the
    // latter case may it be no deadline, and then every slot must be taken.
    const next = nextDeadline(this.state, now);
    const dueRetries = steps.filter((s) => s.status === "pending" && s.retry_at !== null && s.retry_at <= now).map((s) => s.retry_at);
    if (dueRetries.length && inFlight < this.state.options.max_parallelism) expect(next, "a due retry with a free slot wakes the watchdog").not.toBeNull();
    // Compensation undoes one step at a time, and an undo waiting to retry wakes the watchdog.
    const undos = this.state.compensation?.steps ?? [];
    expect(undos.filter((u) => u.status === "running").length, "undos in flight").toBeLessThanOrEqual(1);
    if (undos.some((u) => u.status === "pending" && u.retry_at !== null)) expect(next, "an undo waiting to retry wakes the watchdog").not.toBeNull();
  }
}

/** A run created at T0 and advanced once; returns that advance's events and messages. */
export function begin(steps: StepSpec[], runOptions?: RunOptions): Command<void> & { run: Run } {
  const run = Run.create(steps, runOptions);
  return { run, ...run.command(T0, advance) };
}
