// A queued attempt with no report by its resend time has its message sent again: the same dispatch,
// under the same lease. The decider, with the clock the test sets.
import { describe, expect, it } from "vitest";
import { fireDue, renewLease, report } from "../src/durable/run/domain/decide";
import type { Machine, QueueView } from "../src/durable/run/domain/machine";
import { dispatchTimeout, leaseFor, leaseMargin, RESEND_FLOOR_MS } from "../src/execution/run-options";
import { stepError } from "../src/execution/step-error";
import type { Outcome } from "../src/execution/step-protocol";
import { at, begin, options, type StepSpec } from "./decider-harness";

const DEFAULT_TIMEOUT = 30_000;
const get = (step_number: number, depends_on: number[] = []): StepSpec => ({
  step_number,
  tool: "Http.get",
  input: { url: `https://example.com/${step_number}` },
  depends_on,
});
const ok: Outcome = { success: true, output: { status: 200 } };
/** A run with the default step timeout (30 s): a lease of about 95 s. */
const defaults = options({ step_timeout_ms: DEFAULT_TIMEOUT, retry: { max_attempts: 3, initial_delay_ms: 0, max_delay_ms: 0 } });

describe("a queued attempt with no report", () => {
  it("is sent again at 12 s and at 36 s, the same message each time, and only its lease (about 95 s) fails it", () => {
    const { run, sent } = begin([get(1)], defaults);
    const lease = leaseFor(DEFAULT_TIMEOUT);
    expect(lease).toBeGreaterThan(90_000);
    const s = run.step(1);
    expect(s).toMatchObject({ lease_until: at(lease), resend_at: at(12_000) });

    expect(run.command(at(11_999), fireDue).events).toEqual([]);
    const first = run.command(at(12_000), fireDue);
    expect(first.events).toMatchObject([{ type: "step.resent", data: { step: 1, dispatch: s.dispatch_seq, next_resend_at: at(36_000) } }]);
    expect(first.sent).toEqual([{ ...sent[0], copy: 1 }]);
    expect(run.step(1)).toMatchObject({ status: "running", attempts: 1, resends: 1 });

    const second = run.command(at(36_000), fireDue);
    // The last copy: none is due after it (MAX_RESENDS), so the next deadline is the lease.
    expect(second.events).toEqual([expect.objectContaining({ type: "step.resent", data: { step: 1, dispatch: s.dispatch_seq } })]);
    expect(second.sent).toEqual([{ ...sent[0], copy: 2 }]);
    expect(run.step(1).resend_at).toBeNull();

    expect(run.command(at(lease - 1), fireDue).events).toEqual([]);
    const expired = run.command(at(lease), fireDue);
    expect(expired.events[0]).toMatchObject({ type: "step.retry_scheduled", data: { step: 1, attempt: 1, error: { code: "lease_expired" } } });
    // The next attempt has a dispatch, a lease and a resend time of its own.
    expect(expired.events[1]).toMatchObject({ type: "step.started", data: { step: 1, attempt: 2, resend_at: at(lease + 12_000) } });
  });

  it("a report of a slow original after a copy went out still counts, once, as the first attempt", () => {
    const { run } = begin([get(1)], defaults);
    const dispatch = run.step(1).dispatch_seq!;
    expect(run.command(at(12_000), fireDue).sent).toMatchObject([{ dispatch, copy: 1 }]);
    // Http.get took 20 s of its 30 s: the original reports; the copy's report comes after and is ignored.
    const original = run.command(at(20_500), (m) => report(m, [{ step: 1, dispatch, outcome: ok, queue_ms: 5 }]));
    expect(original.result).toEqual([{ accepted: true }]);
    expect(run.step(1)).toMatchObject({ status: "succeeded", attempts: 1, resend_at: null });
    const copy = run.command(at(32_000), (m) => report(m, [{ step: 1, dispatch, outcome: ok, queue_ms: 5 }]));
    expect(copy.result).toEqual([{ accepted: false, reason: "not_running" }]);
    expect(copy.events).toEqual([]);
  });

  it("learns the queue's lag from the reports: a run whose messages waited 5 s gives its next steps 28 s", () => {
    const { run } = begin([get(1), get(2, [1]), get(3, [2])], defaults);
    const late: Outcome = { success: true, output: {} };
    run.command(at(6_000), (m) => report(m, [{ step: 1, dispatch: run.step(1).dispatch_seq!, outcome: late, queue_ms: 5_000 }]));
    expect(run.step(2).resend_at! - at(6_000)).toBe(RESEND_FLOOR_MS + 4 * 5_000);
    // A backlog seen once keeps the run patient; never past the dispatch allowance, so a copy can still start.
    run.command(at(90_000), (m) => report(m, [{ step: 2, dispatch: run.step(2).dispatch_seq!, outcome: late, queue_ms: 80_000 }]));
    expect(run.step(3).resend_at! - at(90_000)).toBe(dispatchTimeout(DEFAULT_TIMEOUT));
  });

  it("whose watchdog comes too late for a copy to start (the runtime was down) fails now, as lease_expired", () => {
    const { run } = begin([get(1)], defaults);
    const lease = leaseFor(DEFAULT_TIMEOUT);
    // A consumer never starts a message with less than the step's timeout of lease left.
    const out = run.command(at(lease - DEFAULT_TIMEOUT + 1), fireDue);
    expect(out.events[0]).toMatchObject({ type: "step.retry_scheduled", data: { step: 1, attempt: 1, error: { code: "lease_expired" } } });
    expect(out.sent).toMatchObject([{ step: 1, attempt: 2 }]);
    expect(out.sent[0]).not.toHaveProperty("copy");
  });
});

/** The watchdog as the run object runs it when it has looked at the step queue first. */
const seeing = (queue: QueueView) => (m: Machine) => fireDue({ ...m, queue });
const nothingReceived = () => false;

describe("a resend whose message is still behind a backlog", () => {
  it("is put off while the queue holds a message sent before its own, then sent once the queue has moved past it", () => {
    const { run, sent } = begin([get(1)], defaults);
    const s = run.step(1);
    // At 12 s the queue's oldest message was sent at 0 s, with this one: it is waiting its turn.
    const first = run.command(at(12_000), seeing({ oldest: at(0), received: nothingReceived }));
    expect(first.sent).toEqual([]);
    // Looked at again after as long as the oldest message has waited (12 s).
    expect(first.events).toEqual([
      expect.objectContaining({ type: "step.resend_postponed", data: { step: 1, dispatch: s.dispatch_seq, resend_at: at(24_000), queue_wait_ms: 12_000 } }),
    ]);
    expect(run.step(1)).toMatchObject({ status: "running", resends: 0, resend_at: at(24_000) });
    expect(run.command(at(23_999), seeing({ oldest: at(0), received: nothingReceived })).events).toEqual([]);

    // At 24 s the oldest message waiting was sent after this one: it reached a consumer, and no report came.
    const second = run.command(at(24_000), seeing({ oldest: at(1_000), received: nothingReceived }));
    expect(second.events).toMatchObject([{ type: "step.resent", data: { step: 1, dispatch: s.dispatch_seq } }]);
    expect(second.sent).toEqual([{ ...sent[0], copy: 1 }]);
  });

  it("is sent at once when the queue is empty, or when a consumer already has its message", () => {
    const empty = begin([get(1)], defaults).run;
    expect(empty.command(at(12_000), seeing({ oldest: null, received: nothingReceived })).sent).toMatchObject([{ step: 1, copy: 1 }]);

    // A consumer already has this dispatch (it passed its pre-flight): it is not in the queue, whatever else waits.
    const taken = begin([get(1)], defaults).run;
    const d = taken.step(1).dispatch_seq!;
    const out = taken.command(at(12_000), seeing({ oldest: at(0), received: (x) => x === d }));
    expect(out.sent).toMatchObject([{ step: 1, dispatch: d, copy: 1 }]);
    expect(out.events.map((e) => e.type)).toEqual(["step.resent"]);
  });

  it("is put off no later than a copy could still start, and past that point is not sent at all: the lease decides", () => {
    const { run } = begin([get(1)], defaults);
    const lease = leaseFor(DEFAULT_TIMEOUT);
    const latest = lease - DEFAULT_TIMEOUT;
    // At 40 s the oldest message has waited 40 s: 80 s would be past the last moment a copy could start.
    const capped = run.command(at(40_000), seeing({ oldest: at(0), received: nothingReceived }));
    expect(capped.events[0]).toMatchObject({ type: "step.resend_postponed", data: { resend_at: at(latest) } });
    const last = run.command(at(latest), seeing({ oldest: at(0), received: nothingReceived }));
    expect(last.sent).toEqual([]);
    expect(last.events[0]).toMatchObject({ type: "step.resend_postponed", data: { resend_at: null } });
    expect(run.step(1).resend_at).toBeNull();
    // The lease then fails the attempt, and the retry policy starts the next one.
    const expired = run.command(at(lease), seeing({ oldest: at(0), received: nothingReceived }));
    expect(expired.events[0]).toMatchObject({ type: "step.retry_scheduled", data: { step: 1, attempt: 1, error: { code: "lease_expired" } } });
  });

  it("without a look at the queue (it could not tell), sends its copy as before", () => {
    const { run } = begin([get(1)], defaults);
    expect(run.command(at(12_000), fireDue).sent).toMatchObject([{ step: 1, copy: 1 }]);
  });
});

describe("a lease renewed for a message that reached its consumer late", () => {
  it("runs from the consumer's ask for the step's timeout and margin, so the old lease's end takes nothing back", () => {
    const { run } = begin([get(1)], defaults);
    const { lease_until: lease, dispatch_seq: dispatch } = run.step(1);
    const asked = lease! - 5_000;
    const out = run.command(asked, (m) => renewLease(m, 1, dispatch!, DEFAULT_TIMEOUT));
    const renewed = asked + DEFAULT_TIMEOUT + leaseMargin(DEFAULT_TIMEOUT);
    expect(out.result).toBe(renewed);
    expect(out.events).toEqual([expect.objectContaining({ type: "step.lease_renewed", data: { step: 1, dispatch, lease_until: renewed } })]);
    expect(run.step(1).lease_until).toBe(renewed);
    expect(run.command(lease!, fireDue).events.map((e) => e.type)).not.toContain("step.retry_scheduled");
    // A lease that is long enough already is kept as it is, with nothing written.
    const kept = run.command(asked + 1_000, (m) => renewLease(m, 1, dispatch!, 1_000));
    expect(kept).toMatchObject({ result: renewed, events: [] });
  });

  it("is refused (null, nothing written) once the lease has passed, or for a dispatch that is not the step's current one", () => {
    const { run } = begin([get(1)], defaults);
    const { lease_until: lease, dispatch_seq: dispatch } = run.step(1);
    expect(run.command(lease!, (m) => renewLease(m, 1, dispatch!, DEFAULT_TIMEOUT))).toMatchObject({ result: null, events: [] });
    expect(run.command(at(1_000), (m) => renewLease(m, 1, dispatch! + 100, DEFAULT_TIMEOUT))).toMatchObject({ result: null, events: [] });
  });

  it("a lease_expired report from a consumer of the previous version (which refused late messages) is retried at once, not after the backoff", () => {
    const { run } = begin([get(1)], options({ step_timeout_ms: DEFAULT_TIMEOUT }));
    const dispatch = run.step(1).dispatch_seq!;
    const error = stepError("lease_expired", "Reached a consumer too late to start.");
    const out = run.command(at(70_000), (m) => report(m, [{ step: 1, dispatch, outcome: { success: false, error } }]));
    expect(out.events[0]).toMatchObject({ type: "step.retry_scheduled", data: { step: 1, attempt: 1, delay_ms: 0 } });
    expect(out.sent).toMatchObject([{ step: 1, attempt: 2 }]);
  });
});
