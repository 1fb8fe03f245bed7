// The run's decider (src/durable/run/decide.ts), driven without a Durable Object: every command
// against every state a step can be in, on a Machine whose events fold into an in-memory state
// and whose clock the test sets. Each command's exact events are asserted, and after every
// command two invariants are checked: no more steps in flight than max_parallelism, and no
// watchdog deadline that is a retry already due.
import { describe, expect, it } from "vitest";
import type { RunEvent, RunEventData, RunEventType } from "../src/durable/run/domain/events";
import { advance, breakerChanged, defer, fireDue, nextDeadline, preflight, report } from "../src/durable/run/domain/decide";
import { decideApproval, signal } from "../src/durable/run/domain/human-input";
import { cancel, optionsFor, resume } from "../src/durable/run/domain/control";
import { TERMINAL_RUN, type StepStatus } from "../src/durable/run/domain/state";
import { DEFAULT_RUN_TIMEOUT_MS, MAX_RUN_TIMEOUT_MS, type RunOptions } from "../src/execution/run-options";
import type { BreakerOpened, Outcome } from "../src/execution/step-protocol";
import { stepError, type StepError } from "../src/execution/step-error";
import { at, begin, LEASE, options, RESEND, Run, RUN_TIMEOUT, STEP_TIMEOUT, T0, type StepSpec } from "./decider-harness";

/** A dispatch this run never made. */
const NEVER = 999;

// --- Plans and outcomes ---------------------------------------------------------------------

const get = (step_number: number, url: string, depends_on: number[] = []): StepSpec => ({ step_number, tool: "Http.get", input: { url }, depends_on });
const calc = (step_number: number, expression: string, depends_on: number[] = []): StepSpec => ({
  step_number,
  tool: "Calculator.evaluate",
  input: { expression },
  depends_on,
});
const sleep = (step_number: number, seconds: number): StepSpec => ({ step_number, tool: "Wait.sleep", input: { seconds } });
/** How long the approvals in these tests wait: less than the run's deadline. */
const APPROVAL_MS = 600_000;
const approve = (step_number: number, more: Fields = {}): StepSpec => ({
  step_number,
  tool: "Human.approve",
  input: { message: "ship it?", timeout_seconds: APPROVAL_MS / 1000, ...more },
});

/** Step 1 on the queue; step 2 on the queue after it. */
const queuePlan = () => [get(1, "https://example.com/one"), get(2, "https://example.com/two", [1])];
/** As queuePlan, with step 3 independent of both (it keeps the run going after step 1 fails). */
const forkPlan = () => [...queuePlan(), get(3, "https://example.com/three")];
const waitFor = (step_number: number, name: string, depends_on: number[] = []): StepSpec => ({
  step_number,
  tool: "Wait.signal",
  input: { name, timeout_seconds: APPROVAL_MS / 1000 },
  depends_on,
});
/** Step 1 waits for signal "go"; step 2 on the queue after it. */
const signalPlan = () => [waitFor(1, "go"), get(2, "https://example.com/two", [1])];
/** Step 1 an approval; step 2 on the queue after it. */
const approvalPlan = (more: Fields = {}) => [approve(1, more), get(2, "https://example.com/two", [1])];
/** Step 1 a timer; step 2 on the queue after it. */
const timerPlan = () => [sleep(1, 5), get(2, "https://example.com/two", [1])];
const independent = (n: number) => Array.from({ length: n }, (_, i) => get(i + 1, `https://example.com/${i + 1}`));

const ok = (output: unknown): Outcome => ({ success: true, output: output as never });
const fail = (error: StepError): Outcome => ({ success: false, error });
const retryable = fail(stepError("upstream_error", "The upstream answered 502."));
const permanent = fail(stepError("upstream_rejected", "The upstream answered 404."));
const unavailable = stepError("tool_unavailable", "Http.get is temporarily unavailable.", { retry_after_ms: 5000 });

// --- Expected events (partial: toMatchObject checks these fields and the count) ----------------

type Fields = Record<string, unknown>;
const ev = (type: RunEventType, data: Fields) => ({ type, data });
const started = (step: number, attempt: number, more: Fields = {}) => ev("step.started", { step, attempt, ...more });
const startedOnQueue = (step: number, attempt: number, now: number) => started(step, attempt, { lease_until: now + LEASE, executor: "queue" });
const succeeded = (step: number, attempt: number, more: Fields = {}) => ev("step.succeeded", { step, attempt, ...more });
const retrying = (step: number, attempt: number, code: string, more: Fields = {}) => ev("step.retry_scheduled", { step, attempt, error: { code }, ...more });
const failed = (step: number, attempt: number, code: string, error: Fields = {}) => ev("step.failed", { step, attempt, error: { code, ...error } });
const skipped = (step: number, reason: string) => ev("step.skipped", { step, reason });
const deferred = (step: number, attempt: number, retry_at: number) => ev("step.deferred", { step, attempt, retry_at, error: { code: "tool_unavailable" } });
const runFailed = (code: string, step_number?: number) => ev("run.failed", { error: step_number === undefined ? { code } : { code, step_number } });
const runCompleted = (result: unknown) => ev("run.completed", { result });
const runCancelled = () => ev("run.cancelled", { reason: "stopped by the test" });

// --- Every state a step can be in -------------------------------------------------------------

/** A run with one step (`step`) in the state named, and the time of the command under test. */
interface Fixture {
  run: Run;
  step: number;
  now: number;
  /** A dispatch that is not the step's current one: an earlier one where it had one. */
  stale: number;
}

const reportAt = (run: Run, now: number, step: number, dispatch: number, outcome: Outcome) => run.command(now, (m) => report(m, [{ step, dispatch, outcome }]));

/** Step 1's first attempt failed retryably at 1000 ms; its retry is due at 1500 ms. */
function retryScheduled(): Run {
  const run = begin(queuePlan()).run;
  reportAt(run, at(1000), 1, 4, retryable);
  return run;
}

/** Step 1 failed for good at 1000 ms: step 2 is skipped, step 3 still runs. */
function forkFailed(): Run {
  const run = begin(forkPlan()).run;
  reportAt(run, at(1000), 1, 4, permanent);
  return run;
}

const states = {
  "pending, never run (waits on its dependency)": (): Fixture => ({ run: begin(queuePlan()).run, step: 2, now: at(1000), stale: NEVER }),
  "pending, retry not yet due": (): Fixture => ({ run: retryScheduled(), step: 1, now: at(1200), stale: 4 }),
  "pending, retry due": (): Fixture => ({ run: retryScheduled(), step: 1, now: at(1500), stale: 4 }),
  "pending, deferred by an open breaker": (): Fixture => {
    const run = begin(queuePlan()).run;
    run.command(at(1000), (m) => defer(m, 1, 4, at(6000), unavailable));
    return { run, step: 1, now: at(2000), stale: 4 };
  },
  "running on the queue (attempt 2)": (): Fixture => {
    const run = retryScheduled();
    run.command(at(1500), fireDue);
    return { run, step: 1, now: at(2000), stale: 4 };
  },
  "running a timer": (): Fixture => ({ run: begin(timerPlan()).run, step: 1, now: at(1000), stale: NEVER }),
  "waiting for approval": (): Fixture => ({ run: begin(approvalPlan()).run, step: 1, now: at(1000), stale: NEVER }),
  "waiting for a signal": (): Fixture => ({ run: begin(signalPlan()).run, step: 1, now: at(1000), stale: NEVER }),
  succeeded: (): Fixture => {
    const run = begin(queuePlan()).run;
    reportAt(run, at(1000), 1, 4, ok({ status: 200 }));
    return { run, step: 1, now: at(2000), stale: 4 };
  },
  failed: (): Fixture => ({ run: forkFailed(), step: 1, now: at(2000), stale: 4 }),
  skipped: (): Fixture => ({ run: forkFailed(), step: 2, now: at(2000), stale: NEVER }),
  "queued (earlier protocol)": (): Fixture => {
    // As the claim-based protocol wrote it: queued with a dispatch deadline, no step.started yet.
    const run = Run.create(queuePlan());
    run.command(T0, (m) => {
      m.emit("run.started", {});
      m.emit("step.queued", { step: 1, attempt: 1, dispatch_deadline: at(30_000) });
    });
    return { run, step: 1, now: at(1000), stale: NEVER };
  },
} satisfies Record<string, () => Fixture>;
type StateName = keyof typeof states;

// --- advance and fireDue ----------------------------------------------------------------------

describe("advance", () => {
  it("starts a queue step with a lease and sends one message naming its dispatch", () => {
    const { events, sent } = begin([get(1, "https://example.com/one")]);
    expect(events).toMatchObject([
      ev("run.started", {}),
      started(1, 1, { input: { url: "https://example.com/one" }, lease_until: at(LEASE), resend_at: at(RESEND), executor: "queue" }),
    ]);
    expect(sent).toEqual([
      {
        v: 2,
        run_id: "run_test",
        tenant: "tenant_test",
        step: 1,
        attempt: 1,
        dispatch: 4,
        tool: "Http.get",
        input: { url: "https://example.com/one" },
        timeout_ms: STEP_TIMEOUT,
        lease_until: at(LEASE),
        trace_id: "trace_test",
      },
    ]);
  });

  it("starts a timer step with its wake time and sends nothing", () => {
    const { events, sent } = begin([sleep(1, 5)]);
    expect(events).toMatchObject([ev("run.started", {}), started(1, 1, { wake_at: at(5000), executor: "timer" })]);
    expect(sent).toEqual([]);
  });

  it("does nothing on a finished run", () => {
    const { run } = begin([calc(1, "1 + 1")]);
    expect(run.state.status).toBe("completed");
    expect(run.command(at(1), advance).events).toEqual([]);
  });
});

describe("advance and fireDue on a settled state", () => {
  it.each([
    { state: "pending, never run (waits on its dependency)", status: "pending", attempt: 0, expected: [] },
    { state: "pending, retry not yet due", status: "pending", attempt: 1, expected: [] },
    { state: "pending, retry due", status: "pending", attempt: 1, expected: [startedOnQueue(1, 2, at(1500))] },
    { state: "pending, deferred by an open breaker", status: "pending", attempt: 0, expected: [] },
    { state: "running on the queue (attempt 2)", status: "running", attempt: 2, expected: [] },
    { state: "running a timer", status: "running", attempt: 1, expected: [] },
    { state: "waiting for approval", status: "waiting", attempt: 1, expected: [] },
    { state: "waiting for a signal", status: "waiting", attempt: 1, expected: [] },
    { state: "succeeded", status: "succeeded", attempt: 1, expected: [] },
    { state: "failed", status: "failed", attempt: 1, expected: [] },
    { state: "skipped", status: "skipped", attempt: 0, expected: [] },
    { state: "queued (earlier protocol)", status: "queued", attempt: 1, expected: [] },
  ] satisfies { state: StateName; status: StepStatus; attempt: number; expected: unknown[] }[])(
    "$state: starts only what is due",
    ({ state, status, attempt, expected }) => {
      for (const command of [advance, fireDue]) {
        const { run, step, now } = states[state]();
        // The fixture is what its name says.
        expect(run.step(step)).toMatchObject({ status, attempt });
        expect(run.state.status).toBe(status === "waiting" ? "waiting" : "running");
        const out = run.command(now, command);
        expect(out.events, command.name).toMatchObject(expected);
        expect(out.sent, command.name).toHaveLength(expected.length);
      }
    },
  );
});

describe("fireDue past the run's deadline", () => {
  it.each([
    { state: "pending, never run (waits on its dependency)", expected: [failed(1, 1, "run_timeout"), skipped(2, "run_timeout")] },
    { state: "pending, retry not yet due", expected: [skipped(1, "run_timeout"), skipped(2, "run_timeout")] },
    { state: "pending, retry due", expected: [skipped(1, "run_timeout"), skipped(2, "run_timeout")] },
    { state: "pending, deferred by an open breaker", expected: [skipped(1, "run_timeout"), skipped(2, "run_timeout")] },
    { state: "running on the queue (attempt 2)", expected: [failed(1, 2, "run_timeout"), skipped(2, "run_timeout")] },
    { state: "running a timer", expected: [failed(1, 1, "run_timeout"), skipped(2, "run_timeout")] },
    { state: "waiting for approval", expected: [failed(1, 1, "run_timeout"), skipped(2, "run_timeout")] },
    { state: "waiting for a signal", expected: [failed(1, 1, "run_timeout"), skipped(2, "run_timeout")] },
    { state: "succeeded", expected: [failed(2, 1, "run_timeout")] },
    { state: "failed", expected: [failed(3, 1, "run_timeout")] },
    { state: "skipped", expected: [failed(3, 1, "run_timeout")] },
    { state: "queued (earlier protocol)", expected: [failed(1, 1, "run_timeout"), skipped(2, "run_timeout")] },
  ] satisfies { state: StateName; expected: unknown[] }[])(
    "$state: fails what runs, skips what waits, fails the run with run_timeout",
    ({ state, expected }) => {
      const { run } = states[state]();
      const out = run.command(at(RUN_TIMEOUT), fireDue);
      expect(out.events).toMatchObject([...expected, runFailed("run_timeout")]);
      expect(out.sent).toEqual([]);
      expect(run.state.error).toMatchObject({ code: "run_timeout" });
      expect(nextDeadline(run.state, at(RUN_TIMEOUT))).toBeNull();
    },
  );
});

describe("fireDue", () => {
  it("fails an attempt whose lease expired as lease_expired and schedules its retry", () => {
    const { run } = begin(queuePlan());
    const out = run.command(at(LEASE), fireDue);
    expect(out.events).toMatchObject([retrying(1, 1, "lease_expired", { delay_ms: 500, retry_at: at(LEASE + 500) })]);
    expect(out.events[0]!.data).toMatchObject({ error: { retryable: true } });
  });

  it("fails the step and the run when the lease of its last attempt expires", () => {
    const { run } = begin(queuePlan(), options({ retry: { max_attempts: 1 } }));
    const out = run.command(at(LEASE), fireDue);
    expect(out.events).toMatchObject([failed(1, 1, "lease_expired"), skipped(2, "dependency_failed"), runFailed("lease_expired", 1)]);
  });

  it("ends a timer that woke with the seconds it slept and starts its dependants", () => {
    const { run } = states["running a timer"]();
    const out = run.command(at(5000), fireDue);
    expect(out.events).toMatchObject([succeeded(1, 1, { output: { slept_seconds: 5 }, duration_ms: 5000 }), startedOnQueue(2, 1, at(5000))]);
  });

  it("re-dispatches a deferred step when its wait is over, with the attempt it gave back", () => {
    const { run } = states["pending, deferred by an open breaker"]();
    const out = run.command(at(6000), fireDue);
    expect(out.events).toMatchObject([startedOnQueue(1, 1, at(6000))]);
    expect(out.sent).toMatchObject([{ step: 1, attempt: 1, dispatch: out.events[0]!.seq }]);
  });

  it("dispatches a step queued under the earlier protocol again once its dispatch deadline passed", () => {
    const { run } = states["queued (earlier protocol)"]();
    const out = run.command(at(30_000), fireDue);
    expect(out.events).toMatchObject([startedOnQueue(1, 1, at(30_000))]);
    expect(out.sent).toMatchObject([{ v: 2, step: 1, attempt: 1, dispatch: out.events[0]!.seq, lease_until: at(30_000 + LEASE) }]);
    expect(run.step(1)).toMatchObject({ status: "running", attempts: 1, dispatch_deadline: null });
  });

  it("runs a Calculator step queued under the earlier protocol inline once its deadline passed", () => {
    const run = Run.create([calc(1, "2 + 3"), calc(2, "{{steps.1.output}} * 2", [1])]);
    run.command(T0, (m) => {
      m.emit("run.started", {});
      m.emit("step.queued", { step: 1, attempt: 1, dispatch_deadline: at(30_000) });
    });
    const out = run.command(at(30_000), fireDue);
    expect(out.events).toMatchObject([
      started(1, 1, { executor: "inline" }),
      succeeded(1, 1, { output: 5 }),
      started(2, 1, { input: { expression: "5 * 2" } }),
      succeeded(2, 1, { output: 10 }),
      runCompleted(10),
    ]);
    expect(out.sent).toEqual([]);
  });

  it("gives up on an earlier-protocol step re-dispatched for its last attempt when that attempt times out", () => {
    // The earlier protocol queued attempt 3 after two attempts that started and failed.
    const run = Run.create([calc(1, "1 + 1")]);
    run.command(T0, (m) => {
      m.emit("run.started", {});
      for (const attempt of [1, 2]) {
        m.emit("step.queued", { step: 1, attempt, dispatch_deadline: at(30_000) });
        m.emit("step.started", { step: 1, attempt, input: { expression: "1 + 1" }, lease_until: at(LEASE) });
        m.emit("step.retry_scheduled", { step: 1, attempt, error: stepError("upstream_error", "x"), delay_ms: 0, retry_at: T0 });
      }
      m.emit("step.queued", { step: 1, attempt: 3, dispatch_deadline: at(30_000) });
    });
    run.toolMs = STEP_TIMEOUT + 500;
    const out = run.command(at(30_000), fireDue);
    expect(out.events).toMatchObject([
      started(1, 3, { executor: "inline" }),
      failed(1, 3, "step_timeout", { message: expect.stringContaining("gave up after 3 attempts") }),
      runFailed("step_timeout", 1),
    ]);
  });
});

// --- report ---------------------------------------------------------------------------------

describe("report for the current dispatch", () => {
  const opened: BreakerOpened = { tool: "Http.get", cooldown_ms: 5000, reason: "3 failures in a row" };
  it.each([
    {
      name: "a success records the output and starts the dependants",
      outcome: ok({ status: 200 }),
      expected: [succeeded(1, 1, { output: { status: 200 }, duration_ms: 1000 }), startedOnQueue(2, 1, at(1000))],
    },
    {
      name: "a retryable failure schedules a retry after the backoff",
      outcome: retryable,
      expected: [retrying(1, 1, "upstream_error", { delay_ms: 500, retry_at: at(1500) })],
    },
    {
      name: "an upstream's Retry-After is a floor for the backoff",
      outcome: fail(stepError("upstream_rate_limited", "429", { retry_after_ms: 5000 })),
      expected: [retrying(1, 1, "upstream_rate_limited", { delay_ms: 5000, retry_at: at(6000) })],
    },
    {
      name: "a retryable failure of the last attempt fails the step and the run",
      runOptions: options({ retry: { max_attempts: 1 } }),
      outcome: retryable,
      expected: [
        failed(1, 1, "upstream_error", { message: expect.stringContaining("gave up after 1 attempts") }),
        skipped(2, "dependency_failed"),
        runFailed("upstream_error", 1),
      ],
    },
    {
      name: "a non-retryable failure fails the step, skips its dependants and fails the run",
      outcome: permanent,
      expected: [failed(1, 1, "upstream_rejected"), skipped(2, "dependency_failed"), runFailed("upstream_rejected", 1)],
    },
    {
      name: "a failure that opened the tool's breaker is recorded beside it",
      outcome: retryable,
      opened,
      expected: [retrying(1, 1, "upstream_error"), ev("breaker.opened", { ...opened })],
    },
  ] as { name: string; runOptions?: RunOptions; outcome: Outcome; opened?: BreakerOpened; expected: unknown[] }[])(
    "$name",
    ({ runOptions, outcome, opened: tripped, expected }) => {
      const { run } = begin(queuePlan(), runOptions);
      const out = run.command(at(1000), (m) => report(m, [{ step: 1, dispatch: 4, outcome, ...(tripped ? { opened: tripped } : {}) }]));
      expect(out.result).toEqual([{ accepted: true }]);
      expect(out.events).toMatchObject(expected);
    },
  );

  it("completes the run with the last step's output", () => {
    const { run } = begin([get(1, "https://example.com/one")]);
    const out = reportAt(run, at(1000), 1, 4, ok({ status: 200 }));
    expect(out.events).toMatchObject([succeeded(1, 1), runCompleted({ status: 200 })]);
  });

  it("accepts the first of two reports for one dispatch in a batch and ignores the second", () => {
    const { run } = begin(queuePlan());
    const out = run.command(at(1000), (m) =>
      report(m, [
        { step: 1, dispatch: 4, outcome: ok({ status: 200 }) },
        { step: 1, dispatch: 4, outcome: permanent },
      ]),
    );
    expect(out.result).toEqual([{ accepted: true }, { accepted: false, reason: "not_running" }]);
    expect(out.events).toMatchObject([succeeded(1, 1), startedOnQueue(2, 1, at(1000))]);
  });

  it("refuses a report for a step the plan does not have", () => {
    const { run } = begin(queuePlan());
    const out = run.command(at(1000), (m) => report(m, [{ step: 9, dispatch: 4, outcome: ok(1) }]));
    expect(out.result).toEqual([{ accepted: false, reason: "unknown_step" }]);
    expect(out.events).toEqual([]);
  });
});

/** Why a report or deferral naming the fixture's stale dispatch is refused. */
const staleReasons: { state: StateName; reason: "stale_dispatch" | "not_running" }[] = [
  { state: "pending, never run (waits on its dependency)", reason: "stale_dispatch" },
  { state: "pending, retry not yet due", reason: "not_running" },
  { state: "pending, retry due", reason: "not_running" },
  { state: "pending, deferred by an open breaker", reason: "not_running" },
  { state: "running on the queue (attempt 2)", reason: "stale_dispatch" },
  { state: "running a timer", reason: "stale_dispatch" },
  { state: "succeeded", reason: "not_running" },
  { state: "failed", reason: "not_running" },
  { state: "skipped", reason: "stale_dispatch" },
  { state: "queued (earlier protocol)", reason: "stale_dispatch" },
];

describe("report and defer for a dispatch that is not current", () => {
  it.each(staleReasons)("$state: refused ($reason) whatever the outcome, and emits nothing", ({ state, reason }) => {
    const deferring = states[state]();
    const deferral = deferring.run.command(deferring.now, (m) => defer(m, deferring.step, deferring.stale, deferring.now + 5000, unavailable));
    expect(deferral.result).toEqual({ accepted: false, reason });
    expect(deferral.events).toEqual([]);

    const { run, step, now, stale } = states[state]();
    const before = structuredClone(run.step(step));
    const reported = run.command(now, (m) =>
      report(m, [
        { step, dispatch: stale, outcome: ok({ status: 200 }) },
        { step, dispatch: stale, outcome: retryable },
        { step, dispatch: stale, outcome: permanent },
      ]),
    );
    expect(reported.result).toEqual([0, 1, 2].map(() => ({ accepted: false, reason })));
    expect(reported.events).toEqual([]);
    expect(reported.sent).toEqual([]);
    expect(run.step(step)).toEqual(before);
  });
});

// --- defer ----------------------------------------------------------------------------------

describe("defer", () => {
  it("puts the step back to wait without using up its attempt", () => {
    const { run } = begin(queuePlan());
    const out = run.command(at(1000), (m) => defer(m, 1, 4, at(6000), unavailable));
    expect(out.result).toEqual({ accepted: true });
    expect(out.events).toMatchObject([deferred(1, 1, at(6000))]);
    expect(out.sent).toEqual([]);
    expect(run.step(1)).toMatchObject({ status: "pending", attempt: 0, attempts: 0, deferrals: 1, deferred_since: at(1000), retry_at: at(6000) });
    expect(nextDeadline(run.state, at(1000))).toBe(at(6000));
  });

  it("numbers attempts by executions: a re-dispatch after a deferral starts the same attempt again", () => {
    const { run } = begin(queuePlan());
    run.command(at(1000), (m) => defer(m, 1, 4, at(2000), unavailable));
    const second = run.command(at(2000), fireDue);
    run.command(at(2500), (m) => defer(m, 1, run.step(1).dispatch_seq!, at(3000), unavailable));
    const third = run.command(at(3000), fireDue);
    expect(run.step(1)).toMatchObject({ attempt: 1, attempts: 1, deferrals: 2 });
    reportAt(run, at(3500), 1, run.step(1).dispatch_seq!, retryable);
    const fourth = run.command(at(4000), fireDue);
    const startedAttempts = run.log.filter((e) => e.type === "step.started").map((e) => (e.data as RunEventData["step.started"]).attempt);
    expect(startedAttempts).toEqual([1, 1, 1, 2]);
    expect([second, third, fourth].map((c) => c.sent.map((s) => s.attempt))).toEqual([[1], [1], [2]]);
    expect(run.step(1)).toMatchObject({ status: "running", attempt: 2, attempts: 2, deferrals: 2 });
  });

  it.each([
    // Deferred again, its retry at the limit (6000 ms), not at the breaker's later transition.
    { waited: 4999, outcome: "is deferred again", expected: [deferred(1, 1, at(6000))] },
    {
      waited: 5000,
      outcome: "fails with tool_unavailable",
      expected: [failed(1, 1, "tool_unavailable"), skipped(2, "dependency_failed"), runFailed("tool_unavailable", 1)],
    },
  ])("with max_deferral_ms 5000, a step turned away again after waiting $waited ms $outcome", ({ waited, expected }) => {
    const { run } = begin(queuePlan(), options({ max_deferral_ms: 5000 }));
    run.command(at(1000), (m) => defer(m, 1, 4, at(4000), unavailable));
    run.command(at(4000), fireDue);
    const out = run.command(at(1000 + waited), (m) => defer(m, 1, run.step(1).dispatch_seq!, at(20_000), unavailable));
    expect(out.result).toEqual({ accepted: true });
    expect(out.events).toMatchObject(expected);
  });

  it("fails the step at its first deferral when max_deferral_ms is 0", () => {
    const { run } = begin(queuePlan(), options({ max_deferral_ms: 0 }));
    const out = run.command(at(1000), (m) => defer(m, 1, 4, at(6000), unavailable));
    expect(out.events).toMatchObject([failed(1, 1, "tool_unavailable"), skipped(2, "dependency_failed"), runFailed("tool_unavailable", 1)]);
  });

  it("measures max_deferral_ms from the current wait, not from a wait that ended when the tool ran", () => {
    const { run } = begin(queuePlan(), options({ max_deferral_ms: 5000 }));
    // Turned away at 1000 ms; the breaker lets it through at 2000 ms, and the tool runs and fails.
    run.command(at(1000), (m) => defer(m, 1, 4, at(2000), unavailable));
    run.command(at(2000), fireDue);
    reportAt(run, at(3000), 1, run.step(1).dispatch_seq!, retryable);
    run.command(at(3500), fireDue);
    // Turned away again at 7000 ms: this wait has only just begun.
    const out = run.command(at(7000), (m) => defer(m, 1, run.step(1).dispatch_seq!, at(9000), unavailable));
    expect(out.events).toMatchObject([deferred(1, 2, at(9000))]);
  });
});

// --- preflight ------------------------------------------------------------------------------

describe("preflight", () => {
  // The timer is left out: no consumer ever holds a timer's dispatch.
  it.each([
    { state: "pending, never run (waits on its dependency)", expected: { go: false, reason: "stale_dispatch" } },
    { state: "pending, retry not yet due", expected: { go: false, reason: "stale_dispatch" } },
    { state: "pending, retry due", expected: { go: false, reason: "stale_dispatch" } },
    { state: "pending, deferred by an open breaker", expected: { go: false, reason: "stale_dispatch" } },
    { state: "running on the queue (attempt 2)", expected: { go: true } },
    { state: "succeeded", expected: { go: false, reason: "stale_dispatch" } },
    { state: "failed", expected: { go: false, reason: "stale_dispatch" } },
    { state: "skipped", expected: { go: false, reason: "stale_dispatch" } },
    { state: "queued (earlier protocol)", expected: { go: false, reason: "stale_dispatch" } },
  ] satisfies { state: StateName; expected: object }[])("$state: the step's latest dispatch gets $expected", ({ state, expected }) => {
    const { run, step } = states[state]();
    const lastSeq = run.state.last_seq;
    expect(preflight(run.state, step, run.step(step).dispatch_seq ?? NEVER)).toEqual(expected);
    expect(run.state.last_seq).toBe(lastSeq);
  });

  it("says no to an earlier dispatch of a running step", () => {
    const { run, step, stale } = states["running on the queue (attempt 2)"]();
    expect(preflight(run.state, step, stale)).toEqual({ go: false, reason: "stale_dispatch" });
  });

  it("says no once the run finished, and to a step the plan does not have", () => {
    const { run } = begin(queuePlan());
    expect(preflight(run.state, 9, 4)).toEqual({ go: false, reason: "unknown_step" });
    run.command(at(1000), (m) => cancel(m, "stopped by the test"));
    expect(preflight(run.state, 1, 4)).toEqual({ go: false, reason: "run_finished" });
  });
});

// --- breakerChanged -------------------------------------------------------------------------

describe("breakerChanged", () => {
  it.each([
    { change: "closed", type: "breaker.closed" },
    { change: "half_open", type: "breaker.half_opened" },
  ] as const)("$change: a step waiting on the breaker is dispatched at once", ({ change, type }) => {
    const { run, now } = states["pending, deferred by an open breaker"]();
    const out = run.command(now, (m) => breakerChanged(m, "Http.get", change));
    expect(out.events).toMatchObject([ev(type, { tool: "Http.get", steps: [1] }), startedOnQueue(1, 1, now)]);
    expect(out.sent).toHaveLength(1);
  });

  it.each([
    { state: "pending, deferred by an open breaker", tool: "TodoStore.add", why: "another tool's breaker" },
    { state: "pending, retry not yet due", tool: "Http.get", why: "a retry after an error of its own" },
    { state: "running on the queue (attempt 2)", tool: "Http.get", why: "a running step" },
    { state: "pending, never run (waits on its dependency)", tool: "Http.get", why: "a step waiting on its dependency" },
  ] satisfies { state: StateName; tool: string; why: string }[])("leaves $why alone and emits nothing", ({ state, tool }) => {
    const { run, now } = states[state]();
    expect(run.command(now, (m) => breakerChanged(m, tool, "closed")).events).toEqual([]);
  });

  it("does nothing on a finished run", () => {
    const { run, now } = states["pending, deferred by an open breaker"]();
    run.command(now, (m) => cancel(m, "stopped by the test"));
    expect(run.command(now, (m) => breakerChanged(m, "Http.get", "closed")).events).toEqual([]);
  });
});

// --- max_parallelism ------------------------------------------------------------------------

/** Reports success for every running step, batch after batch, until the run ends. */
function drain(run: Run, from: number): void {
  for (let t = from; !TERMINAL_RUN.has(run.state.status); t += 10) {
    const running = run.running();
    expect(running.length, "a run that cannot end").toBeGreaterThan(0);
    run.command(t, (m) =>
      report(
        m,
        running.map((s) => ({ step: s.step_number, dispatch: s.dispatch_seq!, outcome: ok(s.step_number) })),
      ),
    );
  }
  expect(run.state.status).toBe("completed");
}

const startedIn = (events: RunEvent[]) => events.filter((e) => e.type === "step.started").length;

describe("max_parallelism", () => {
  const limits = [1, 2];

  it.each(limits)("max_parallelism %i: advance starts no more fresh steps than the limit", (limit) => {
    const { run, events } = begin(independent(4), options({ max_parallelism: limit }));
    expect(startedIn(events)).toBe(limit);
    drain(run, at(1000));
  });

  it.each(limits)("max_parallelism %i: fireDue starts no more due retries than the limit", (limit) => {
    const { run } = begin(independent(4), options({ max_parallelism: limit }));
    // Every step fails once; the retries all come due together.
    for (let t = at(1000); run.running().length > 0; t += 10) {
      run.command(t, (m) =>
        report(
          m,
          run.running().map((s) => ({ step: s.step_number, dispatch: s.dispatch_seq!, outcome: retryable })),
        ),
      );
    }
    expect([...run.state.steps.values()].every((s) => s.status === "pending" && s.retry_at !== null)).toBe(true);
    const out = run.command(at(10_000), fireDue);
    expect(startedIn(out.events)).toBe(limit);
    // The retries left waiting for a slot are no deadline: the next one is a running step's resend time.
    expect(nextDeadline(run.state, at(10_000))).toBe(at(10_000 + RESEND));
    drain(run, at(11_000));
  });

  it.each(limits)("max_parallelism %i: a breaker closing starts no more waiting steps than the limit", (limit) => {
    const { run } = begin(independent(4), options({ max_parallelism: limit }));
    for (let t = at(1000); run.running().length > 0; t += 10) {
      const running = run.running();
      run.command(t, (m) => running.forEach((s) => defer(m, s.step_number, s.dispatch_seq!, at(600_000), unavailable)));
    }
    const out = run.command(at(2000), (m) => breakerChanged(m, "Http.get", "closed"));
    expect(out.events[0]).toMatchObject(ev("breaker.closed", { tool: "Http.get", steps: [1, 2, 3, 4] }));
    expect(startedIn(out.events)).toBe(limit);
    drain(run, at(3000));
  });
});

// --- inline tools, references and input -----------------------------------------------------

describe("inline tools", () => {
  it("runs a chain of two Calculator steps and completes the run in one advance", () => {
    const { events, sent } = begin([calc(1, "2 + 3"), calc(2, "{{steps.1.output}} * 4", [1])]);
    expect(events).toMatchObject([
      ev("run.started", {}),
      started(1, 1, { input: { expression: "2 + 3" }, executor: "inline" }),
      succeeded(1, 1, { output: 5, duration_ms: 0 }),
      started(2, 1, { input: { expression: "5 * 4" }, executor: "inline" }),
      succeeded(2, 1, { output: 20 }),
      runCompleted(20),
    ]);
    expect(sent).toEqual([]);
  });

  it("runs a Calculator step inside the report that frees it", () => {
    const { run } = begin([get(1, "https://example.com/one"), calc(2, "{{steps.1.output.status}} + 1", [1])]);
    const out = reportAt(run, at(1000), 1, 4, ok({ status: 200 }));
    expect(out.events).toMatchObject([
      succeeded(1, 1),
      started(2, 1, { input: { expression: "200 + 1" } }),
      succeeded(2, 1, { output: 201 }),
      runCompleted(201),
    ]);
  });

  it("fails an attempt that took longer than step_timeout_ms with step_timeout, and retries it", () => {
    const run = Run.create([calc(1, "1 + 1")]);
    run.toolMs = STEP_TIMEOUT + 500;
    const first = run.command(T0, advance);
    expect(first.events).toMatchObject([ev("run.started", {}), started(1, 1), retrying(1, 1, "step_timeout", { delay_ms: 500, retry_at: at(500) })]);
    expect(first.events[2]!.data).toMatchObject({ error: { retryable: true } });
    run.toolMs = 0;
    const second = run.command(at(500), fireDue);
    expect(second.events).toMatchObject([started(1, 2), succeeded(1, 2, { output: 2 }), runCompleted(2)]);
  });

  it("completes an attempt that took exactly step_timeout_ms", () => {
    const run = Run.create([calc(1, "1 + 1")]);
    run.toolMs = STEP_TIMEOUT;
    expect(run.command(T0, advance).events).toMatchObject([
      ev("run.started", {}),
      started(1, 1),
      succeeded(1, 1, { duration_ms: STEP_TIMEOUT }),
      runCompleted(2),
    ]);
  });

  it("fails the run with step_timeout when the last attempt overran", () => {
    const run = Run.create([calc(1, "1 + 1")], options({ retry: { max_attempts: 1 } }));
    run.toolMs = STEP_TIMEOUT + 1;
    expect(run.command(T0, advance).events).toMatchObject([ev("run.started", {}), started(1, 1), failed(1, 1, "step_timeout"), runFailed("step_timeout", 1)]);
  });

  it("fails the run with division_by_zero in the same command", () => {
    const { events, sent } = begin([calc(1, "5/0"), calc(2, "{{steps.1.output}} + 1", [1])]);
    expect(events).toMatchObject([
      ev("run.started", {}),
      started(1, 1),
      failed(1, 1, "division_by_zero"),
      skipped(2, "dependency_failed"),
      runFailed("division_by_zero", 1),
    ]);
    expect(sent).toEqual([]);
  });
});

describe("references and input", () => {
  it.each([
    {
      name: "a reference that does not resolve fails the step with reference_unresolved before it starts",
      plan: [calc(1, "2 + 3"), get(2, "{{steps.1.output.body}}", [1])],
      expected: [failed(2, 1, "reference_unresolved"), runFailed("reference_unresolved", 2)],
    },
    {
      name: "an input that is invalid after resolution fails with invalid_input and sends no message",
      plan: [calc(1, "2 + 3"), get(2, "{{steps.1.output}}", [1])],
      expected: [started(2, 1, { input: { url: 5 }, executor: "queue" }), failed(2, 1, "invalid_input"), runFailed("invalid_input", 2)],
    },
    {
      name: "a tool the registry does not have fails the step with unknown_tool",
      plan: [calc(1, "2 + 3"), { step_number: 2, tool: "Nope.nothing", input: {}, depends_on: [1] }],
      expected: [failed(2, 1, "unknown_tool"), runFailed("unknown_tool", 2)],
    },
  ])("$name", ({ plan, expected }) => {
    const { events, sent } = begin(plan);
    expect(events).toMatchObject([ev("run.started", {}), started(1, 1), succeeded(1, 1, { output: 5 }), ...expected]);
    expect(sent).toEqual([]);
  });

  it("sends a queue step its resolved input", () => {
    const { sent } = begin([calc(1, "2 + 3"), get(2, "https://example.com/n/{{steps.1.output}}", [1])]);
    expect(sent).toMatchObject([{ step: 2, attempt: 1, input: { url: "https://example.com/n/5" } }]);
  });
});

// --- cancel and resume ----------------------------------------------------------------------

describe("cancel", () => {
  it.each([
    { state: "pending, never run (waits on its dependency)", skips: [1, 2] },
    { state: "pending, retry not yet due", skips: [1, 2] },
    { state: "pending, retry due", skips: [1, 2] },
    { state: "pending, deferred by an open breaker", skips: [1, 2] },
    { state: "running on the queue (attempt 2)", skips: [1, 2] },
    { state: "running a timer", skips: [1, 2] },
    { state: "waiting for approval", skips: [1, 2] },
    { state: "waiting for a signal", skips: [1, 2] },
    { state: "succeeded", skips: [2] },
    { state: "failed", skips: [3] },
    { state: "skipped", skips: [3] },
    { state: "queued (earlier protocol)", skips: [1, 2] },
  ] satisfies { state: StateName; skips: number[] }[])("$state: skips steps $skips as cancelled and cancels the run", ({ state, skips }) => {
    const { run, now } = states[state]();
    const out = run.command(now, (m) => cancel(m, "stopped by the test"));
    expect(out.result).toEqual({ ok: true });
    expect(out.events).toMatchObject([...skips.map((n) => skipped(n, "cancelled")), runCancelled()]);
    expect(out.sent).toEqual([]);
    expect(nextDeadline(run.state, now)).toBeNull();
  });

  it("refuses a finished run, and a late report for a cancelled dispatch changes nothing", () => {
    const { run, now } = states["running on the queue (attempt 2)"]();
    const dispatch = run.step(1).dispatch_seq!;
    run.command(now, (m) => cancel(m, "stopped by the test"));
    const again = run.command(now, (m) => cancel(m, "again"));
    expect(again.result).toMatchObject({ ok: false, code: "run_finished" });
    const late = reportAt(run, now + 10, 1, dispatch, ok({ status: 200 }));
    expect(late.result).toEqual([{ accepted: false, reason: "not_running" }]);
    expect([...again.events, ...late.events]).toEqual([]);
  });
});

describe("resume", () => {
  it.each([
    { state: "pending, never run (waits on its dependency)", steps: [1, 2], starts: [[1, 2]] },
    { state: "pending, retry not yet due", steps: [1, 2], starts: [[1, 2]] },
    { state: "pending, retry due", steps: [1, 2], starts: [[1, 2]] },
    { state: "pending, deferred by an open breaker", steps: [1, 2], starts: [[1, 1]] },
    { state: "running on the queue (attempt 2)", steps: [1, 2], starts: [[1, 3]] },
    { state: "running a timer", steps: [1, 2], starts: [[1, 2]] },
    { state: "succeeded", steps: [2], starts: [[2, 2]] },
    {
      state: "failed",
      steps: [1, 2, 3],
      starts: [
        [1, 2],
        [3, 2],
      ],
    },
    {
      state: "skipped",
      steps: [1, 2, 3],
      starts: [
        [1, 2],
        [3, 2],
      ],
    },
    { state: "queued (earlier protocol)", steps: [1, 2], starts: [[1, 2]] },
  ] satisfies { state: StateName; steps: number[]; starts: [number, number][] }[])(
    "$state, then cancelled: re-runs steps $steps, numbering attempts on from before",
    ({ state, steps, starts }) => {
      const { run, now } = states[state]();
      run.command(now, (m) => cancel(m, "stopped by the test"));
      const out = run.command(now + 1000, resume);
      expect(out.result).toEqual({ ok: true });
      expect(out.events).toMatchObject([ev("run.resumed", { steps }), ...starts.map(([step, attempt]) => started(step, attempt))]);
      expect(run.state).toMatchObject({ status: "running", error: null, deadline: now + 1000 + RUN_TIMEOUT });
      for (const [step] of starts) expect(run.step(step)).toMatchObject({ attempts: 1, deferrals: 0, deferred_since: null });
    },
  );

  it("refuses a run that is still running or completed", () => {
    const { run, now } = states["running on the queue (attempt 2)"]();
    expect(run.command(now, resume).result).toMatchObject({ ok: false, code: "run_not_resumable" });
    drain(run, now);
    expect(run.command(now + 1000, resume)).toMatchObject({ result: { ok: false, code: "run_not_resumable" }, events: [] });
  });

  it("resumes a run that timed out with a fresh deadline, and a report from before stays stale", () => {
    const { run } = begin(queuePlan());
    run.command(at(RUN_TIMEOUT), fireDue);
    const out = run.command(at(RUN_TIMEOUT + 1000), resume);
    expect(out.events).toMatchObject([ev("run.resumed", { steps: [1, 2] }), startedOnQueue(1, 2, at(RUN_TIMEOUT + 1000))]);
    expect(nextDeadline(run.state, at(RUN_TIMEOUT + 1000))).toBe(at(RUN_TIMEOUT + 1000 + RESEND));
    const late = reportAt(run, at(RUN_TIMEOUT + 2000), 1, 4, ok({ status: 200 }));
    expect(late.result).toEqual([{ accepted: false, reason: "stale_dispatch" }]);
  });
});

// --- nextDeadline ---------------------------------------------------------------------------

describe("nextDeadline", () => {
  it.each([
    { state: "pending, never run (waits on its dependency)", expected: at(RESEND), what: "step 1's resend time" },
    { state: "pending, retry not yet due", expected: at(1500), what: "the retry" },
    { state: "pending, retry due", expected: at(1500), what: "the due retry itself (a slot is free: the watchdog must fire now)" },
    { state: "pending, deferred by an open breaker", expected: at(6000), what: "the end of the deferral" },
    { state: "running on the queue (attempt 2)", expected: at(1500 + RESEND), what: "the resend time" },
    { state: "running a timer", expected: at(5000), what: "the wake time" },
    { state: "waiting for approval", expected: at(APPROVAL_MS), what: "the approval's timeout" },
    { state: "waiting for a signal", expected: at(APPROVAL_MS), what: "the signal's timeout" },
    { state: "succeeded", expected: at(1000 + RESEND), what: "step 2's resend time" },
    { state: "failed", expected: at(RESEND), what: "step 3's resend time" },
    { state: "skipped", expected: at(RESEND), what: "step 3's resend time" },
    { state: "queued (earlier protocol)", expected: at(30_000), what: "the dispatch deadline" },
  ] satisfies { state: StateName; expected: number; what: string }[])("$state: is $what", ({ state, expected }) => {
    const { run, now } = states[state]();
    expect(nextDeadline(run.state, now)).toBe(expected);
  });

  it("skips a due retry while every slot is taken, and counts it once one frees", () => {
    const plan = [1, 2].map((n) => ({ step_number: n, tool: "Http.get", input: { url: `https://example.com/${n}` } }));
    const { run } = begin(plan, { max_parallelism: 1, retry: { max_attempts: 3, initial_delay_ms: 500, max_delay_ms: 500 } });
    // Step 1 fails and waits to retry while step 2 holds the only slot.
    const first = run.state.steps.get(1)!.dispatch_seq!;
    run.command(at(100), (m) => report(m, [{ step: 1, dispatch: first, outcome: retryable }]));
    const retryAt = run.state.steps.get(1)!.retry_at!;
    expect(run.state.steps.get(2)!.status).toBe("running");
    expect(nextDeadline(run.state, retryAt + 1)).toBe(run.state.steps.get(2)!.resend_at);
  });

  it("is null for a finished run", () => {
    const { run } = begin([calc(1, "1 + 1")]);
    expect(nextDeadline(run.state, T0)).toBeNull();
  });
});

// --- Approvals --------------------------------------------------------------------------------

const decided = (step: number, decision: "approve" | "reject", more: Fields = {}) => ev("step.decided", { step, attempt: 1, decision, ...more });
const decideAt = (run: Run, now: number, step: number, decision: "approve" | "reject", comment: string | null = null) =>
  run.command(now, (m) => decideApproval(m, step, { decision, comment, by: "key_person" }));

describe("an approval step", () => {
  it("waits: no message, no slot, the run waiting, its timeout the next deadline", () => {
    const { run, events, sent } = begin([approve(1), get(2, "https://example.com/two")], options({ max_parallelism: 1 }));
    expect(events).toMatchObject([
      ev("run.started", {}),
      ev("step.waiting", { step: 1, attempt: 1, kind: "approval", until: at(APPROVAL_MS), input: { message: "ship it?" } }),
      startedOnQueue(2, 1, T0),
    ]);
    // Only the queue step went out, and it took the one slot the waiting step did not.
    expect(sent.map((m) => m.step)).toEqual([2]);
    expect(run.state.status).toBe("waiting");
    expect(run.step(1)).toMatchObject({ status: "waiting", attempts: 1, wait_until: at(APPROVAL_MS) });
  });

  it("approved: succeeds with the decision as its output, and its dependants run", () => {
    const { run } = begin(approvalPlan());
    const out = decideAt(run, at(1000), 1, "approve", "looks good");
    expect(out.result).toEqual({ ok: true });
    expect(out.events).toMatchObject([decided(1, "approve", { comment: "looks good", decided_by: "key_person" }), startedOnQueue(2, 1, at(1000))]);
    expect(run.step(1)).toMatchObject({
      status: "succeeded",
      output: { decision: "approve", comment: "looks good", decided_by: "key_person", decided_at: new Date(at(1000)).toISOString() },
      duration_ms: 1000,
    });
    expect(run.state.status).toBe("running");
  });

  it("rejected: fails for good (not retryable) and fails the run", () => {
    const { run } = begin(approvalPlan());
    const out = decideAt(run, at(1000), 1, "reject", "too risky");
    expect(out.events).toMatchObject([decided(1, "reject"), skipped(2, "dependency_failed"), runFailed("approval_rejected", 1)]);
    expect(run.step(1).error).toMatchObject({ code: "approval_rejected", retryable: false, message: "Rejected by key_person: too risky" });
    expect(out.sent).toEqual([]);
  });

  it("counts one decision: a second one is refused and changes nothing", () => {
    const { run } = begin([approve(1), approve(2)]);
    decideAt(run, at(1000), 1, "approve");
    for (const decision of ["approve", "reject"] as const) {
      const again = decideAt(run, at(2000), 1, decision);
      expect(again).toMatchObject({ result: { ok: false, code: "step_not_waiting", message: "Step 1 was decided already." }, events: [] });
    }
  });

  it("refuses a step the plan does not have, one that is no approval, and one that has not begun to wait", () => {
    const { run } = begin([get(1, "https://example.com/one"), approve(2, {}), approve(3)].map((s) => (s.step_number === 2 ? { ...s, depends_on: [1] } : s)));
    expect(decideAt(run, at(1), 9, "approve")).toMatchObject({ result: { ok: false, code: "step_not_found" }, events: [] });
    expect(decideAt(run, at(1), 1, "approve")).toMatchObject({ result: { ok: false, code: "step_not_waiting" }, events: [] });
    expect(decideAt(run, at(1), 2, "approve")).toMatchObject({ result: { ok: false, code: "step_not_waiting", message: expect.stringContaining("pending") } });
  });

  it("refuses a decision on a finished run", () => {
    const { run } = begin(approvalPlan());
    run.command(at(1), (m) => cancel(m, "stopped by the test"));
    expect(decideAt(run, at(2), 1, "approve")).toMatchObject({ result: { ok: false, code: "run_finished" }, events: [] });
  });

  it.each([
    {
      on_timeout: undefined,
      expected: [decided(1, "reject", { decided_by: "timeout", timed_out: true }), skipped(2, "dependency_failed"), runFailed("approval_timeout", 1)],
    },
    {
      on_timeout: "reject",
      expected: [decided(1, "reject", { decided_by: "timeout", timed_out: true }), skipped(2, "dependency_failed"), runFailed("approval_timeout", 1)],
    },
    { on_timeout: "approve", expected: [decided(1, "approve", { decided_by: "timeout", timed_out: true }), startedOnQueue(2, 1, at(APPROVAL_MS))] },
  ])("times out at its deadline with on_timeout $on_timeout (the watchdog decides)", ({ on_timeout, expected }) => {
    const { run } = begin(approvalPlan(on_timeout ? { on_timeout } : {}));
    expect(run.command(at(APPROVAL_MS - 1), fireDue).events).toEqual([]);
    const out = run.command(at(APPROVAL_MS), fireDue);
    expect(out.events).toMatchObject(expected);
    expect(nextDeadline(run.state, at(APPROVAL_MS))).not.toBe(at(APPROVAL_MS));
  });

  it("refuses a decision that comes after the timeout, applying the timeout the alarm has not yet", () => {
    const { run } = begin(approvalPlan());
    const late = decideAt(run, at(APPROVAL_MS + 5), 1, "approve");
    expect(late.result).toMatchObject({ ok: false, code: "decision_too_late" });
    expect(late.events).toMatchObject([decided(1, "reject", { timed_out: true }), skipped(2, "dependency_failed"), runFailed("approval_timeout", 1)]);
  });

  it("is skipped when another step fails: nobody is left to decide for a failed run", () => {
    const { run } = begin([approve(1), get(2, "https://example.com/two")], options({ retry: { max_attempts: 1 } }));
    const out = reportAt(run, at(1000), 2, run.step(2).dispatch_seq!, permanent);
    expect(out.events).toMatchObject([failed(2, 1, "upstream_rejected"), skipped(1, "run_failed"), runFailed("upstream_rejected", 2)]);
    expect(nextDeadline(run.state, at(1000))).toBeNull();
  });

  it("waits again when a rejected run resumes, with a fresh timeout", () => {
    const { run } = begin(approvalPlan());
    decideAt(run, at(1000), 1, "reject");
    const out = run.command(at(2000), resume);
    expect(out.events).toMatchObject([ev("run.resumed", { steps: [1, 2] }), ev("step.waiting", { step: 1, attempt: 2, until: at(2000 + APPROVAL_MS) })]);
    expect(run.state.status).toBe("waiting");
    expect(decideAt(run, at(3000), 1, "approve").result).toEqual({ ok: true });
  });
});

// --- Signals ----------------------------------------------------------------------------------

const signalAt = (run: Run, now: number, name: string, payload: unknown) => run.command(now, (m) => signal(m, name, payload));
const received = (name: string, payload: unknown) => ev("signal.received", { name, payload });

describe("a Wait.signal step", () => {
  it("waits like an approval: no message, the run waiting", () => {
    const { run, events, sent } = begin(signalPlan());
    expect(events).toMatchObject([ev("run.started", {}), ev("step.waiting", { step: 1, attempt: 1, kind: "signal", until: at(APPROVAL_MS) })]);
    expect(sent).toEqual([]);
    expect(run.state.status).toBe("waiting");
  });

  it("takes a signal that comes while it waits: its payload is the output, and its dependants run", () => {
    const { run } = begin(signalPlan());
    const out = signalAt(run, at(1000), "go", { amount: 5 });
    const seq = out.events[0]!.seq;
    expect(out.result).toEqual({ ok: true, seq, delivered_to: 1 });
    expect(out.events).toMatchObject([received("go", { amount: 5 }), succeeded(1, 1, { output: { amount: 5 }, signal: seq }), startedOnQueue(2, 1, at(1000))]);
    expect(run.state.status).toBe("running");
  });

  it("keeps a signal that comes before it waits, and takes it when it starts waiting", () => {
    const { run } = begin([sleep(1, 5), waitFor(2, "go", [1])]);
    const early = signalAt(run, at(1000), "go", "early");
    expect(early.result).toMatchObject({ ok: true, delivered_to: null });
    expect(early.events).toMatchObject([received("go", "early")]);
    const seq = early.events[0]!.seq;
    const out = run.command(at(5000), fireDue);
    expect(out.events).toMatchObject([
      succeeded(1, 1),
      ev("step.waiting", { step: 2, kind: "signal" }),
      succeeded(2, 1, { output: "early", signal: seq, duration_ms: 0 }),
      runCompleted("early"),
    ]);
  });

  it("takes only the first signal of its name; later ones are recorded and left", () => {
    const { run } = begin([sleep(1, 5), waitFor(2, "go", [1])]);
    const first = signalAt(run, at(1000), "go", 1).events[0]!.seq;
    signalAt(run, at(1100), "go", 2);
    signalAt(run, at(1200), "other", 3);
    const out = run.command(at(5000), fireDue);
    expect(out.events).toMatchObject([succeeded(1, 1), ev("step.waiting", { step: 2 }), succeeded(2, 1, { output: 1, signal: first }), runCompleted(1)]);
    expect(run.state.signals.map((g) => g.taken_by)).toEqual([2, null, null]);
  });

  it("is not taken by a signal of another name, nor decided as an approval", () => {
    const { run } = begin(signalPlan());
    expect(signalAt(run, at(1000), "stop", null)).toMatchObject({ result: { ok: true, delivered_to: null }, events: [received("stop", null)] });
    expect(decideAt(run, at(1000), 1, "approve")).toMatchObject({ result: { ok: false, code: "step_not_waiting" }, events: [] });
    expect(run.step(1).status).toBe("waiting");
  });

  it("fails with signal_timeout when none comes in time", () => {
    const { run } = begin(signalPlan());
    expect(run.command(at(APPROVAL_MS - 1), fireDue).events).toEqual([]);
    const out = run.command(at(APPROVAL_MS), fireDue);
    expect(out.events).toMatchObject([failed(1, 1, "signal_timeout", { retryable: false }), skipped(2, "dependency_failed"), runFailed("signal_timeout", 1)]);
  });

  it("a finished run takes no signal and records nothing", () => {
    const { run } = begin(signalPlan());
    run.command(at(1), (m) => cancel(m, "stopped by the test"));
    expect(signalAt(run, at(2), "go", 1)).toMatchObject({ result: { ok: false, code: "run_finished" }, events: [] });
  });
});

describe("optionsFor: a plan that waits gets a deadline past its waits", () => {
  const DAY = DEFAULT_RUN_TIMEOUT_MS;
  it.each([
    { what: "no waits: the options as given", steps: [get(1, "https://example.com/")], options: {}, expected: undefined },
    { what: "an approval with its default day", steps: [{ step_number: 1, tool: "Human.approve", input: { message: "ok?" } }], options: {}, expected: 2 * DAY },
    { what: "an approval and a signal wait", steps: [approve(1), waitFor(2, "go")], options: {}, expected: DAY + 2 * APPROVAL_MS },
    {
      what: "a timeout given by reference: the longest allowed, capped",
      steps: [approve(1, { timeout_seconds: "{{steps.2.output}}" })],
      options: {},
      expected: MAX_RUN_TIMEOUT_MS,
    },
    { what: "an explicit run_timeout_ms always holds", steps: [approve(1)], options: { run_timeout_ms: 5000 }, expected: 5000 },
  ] satisfies { what: string; steps: StepSpec[]; options: RunOptions; expected: number | undefined }[])("$what", ({ steps, options: given, expected }) => {
    expect(optionsFor(given, steps).run_timeout_ms).toBe(expected);
  });

  it("lets an approval with on_timeout approve decide at its own timeout, not at the default day's deadline", () => {
    // The approval begins 5 s after the run: with the plain default deadline the run would time out first.
    const steps = [
      sleep(1, 5),
      { step_number: 2, tool: "Human.approve", input: { message: "ok?", on_timeout: "approve" }, depends_on: [1] },
      calc(3, "1 + 1", [2]),
    ];
    const { run } = begin(steps, optionsFor({}, steps));
    run.command(at(5000), fireDue);
    expect(run.step(2)).toMatchObject({ status: "waiting", wait_until: at(5000 + DAY) });
    expect(run.command(at(DAY + 1), fireDue).events).toEqual([]);
    const out = run.command(at(5000 + DAY), fireDue);
    expect(out.events).toMatchObject([decided(2, "approve", { timed_out: true }), started(3, 1), succeeded(3, 1), runCompleted(2)]);
  });
});
