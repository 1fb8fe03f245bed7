// Queue: a tool that does I/O runs in a queue consumer. The attempt's message is its lease: the
// event that begins it records the lease, the message carries everything the consumer needs, and a
// report must name the dispatch. When the lease passes with no report (a lost message, a dead or
// hopelessly late consumer), the attempt has failed and the retry policy decides.
//
// The lease is long (it allows for a backlogged queue), so a message lost outright (a crash of the
// runtime, a consumer evicted mid-step) is not left to it: an attempt with no report by its
// resend time has the same message sent again, the same dispatch under the same lease, at most
// MAX_RESENDS times. A copy is only ever a duplicate delivery, which the protocol already makes
// harmless (docs/architecture.md, "A message lost in a crash").
//
// A message that is only waiting its turn in a backlog is not lost: while the step queue still
// holds a message sent before this attempt's own, the copy would only join the same backlog behind
// it (up to two copies per step of a fan-out, each a message, a consumer's turn and a late report).
// The resend is put off instead, and looked at again.
import { leaseFor, MAX_RESENDS, resendAfter, resendRecheckAfter } from "../../../../execution/run-options";
import { stepError } from "../../../../execution/step-error";
import { stepMessage } from "../../../../execution/step-protocol";
import type { Json } from "../../../../lib/json";
import type { QueueTool } from "../../../../tools/tool";
import type { RunState } from "../state";
import type { Attempt, Executor } from "./executor";

/** The queue's dispatch lag as this run has seen it: the longest wait its reports carried (null: none yet). */
export function observedLag(state: RunState): number | null {
  let lag: number | null = null;
  for (const s of state.steps.values()) if (s.queue_ms !== null) lag = Math.max(lag ?? 0, s.queue_ms);
  return lag;
}

/** Sends the attempt's message: at its dispatch, and as each copy (`copy`: which one). */
function send(a: Attempt & { tool: QueueTool }, dispatch: number, lease_until: number, input: unknown, copy?: number): void {
  const key = a.idempotencyKey();
  const { run_id, tenant, trace_id } = a.m.state;
  const fields = {
    run_id,
    tenant,
    step: a.work.s.step_number,
    attempt: a.attempt,
    dispatch,
    tool: a.tool.name,
    timeout_ms: a.timeoutMs,
    lease_until,
    trace_id,
  };
  a.m.send(stepMessage({ ...fields, ...(key === undefined ? {} : { idempotency_key: key }), ...(copy === undefined ? {} : { copy }) }, input as Json));
}

export const queueExecutor: Executor<QueueTool> = {
  start(a) {
    const lease_until = a.m.now + leaseFor(a.timeoutMs);
    const resend_at = a.m.now + resendAfter(observedLag(a.m.state), a.timeoutMs);
    const key = a.idempotencyKey();
    const dispatch = a.begin({ lease_until, resend_at, ...(key === undefined ? {} : { idempotency_key: key }) });
    send(a, dispatch, lease_until, a.input);
  },
  deadline: (w) => (w.resend_at !== null && w.lease_until !== null ? Math.min(w.resend_at, w.lease_until) : w.lease_until),
  expire(a) {
    const w = a.work.s;
    // A copy must be able to start: a consumer never starts a message whose lease ends before the
    // step's timeout would. Past that point a copy would only be refused and reported as
    // lease_expired, so the attempt fails now, as that report would fail it.
    if (w.resend_at !== null && w.lease_until !== null && w.dispatch_seq !== null && a.m.now + a.timeoutMs <= w.lease_until) {
      const q = a.m.queue;
      const sentAt = w.started_ms;
      if (q && q.oldest !== null && sentAt !== null && q.oldest <= sentAt && !q.received(w.dispatch_seq)) {
        // The queue is first in, first out (roughly, in production): its oldest message was sent
        // no later than this one, so this one is most likely still behind it. Looked at again
        // later, but no later than a copy could still start; past that, a copy would only wait
        // behind the original, so none is sent and the lease decides (null).
        const latest = w.lease_until - a.timeoutMs;
        const again = Math.min(a.m.now + resendRecheckAfter(a.m.now, q.oldest), latest);
        const resend_at = again > a.m.now ? again : null;
        a.m.emit("step.resend_postponed", { step: w.step_number, dispatch: w.dispatch_seq, resend_at, queue_wait_ms: Math.max(0, a.m.now - q.oldest) });
        return;
      }
      const copy = w.resends + 1;
      // Twice as long again before the next copy: a step that is only slow gets few duplicates.
      const next = a.m.now + 2 * Math.max(0, a.m.now - (w.started_ms ?? a.m.now));
      const again = copy < MAX_RESENDS && next + a.timeoutMs <= w.lease_until ? { next_resend_at: next } : {};
      a.m.emit("step.resent", { step: w.step_number, dispatch: w.dispatch_seq, ...again });
      send(a, w.dispatch_seq, w.lease_until, a.input, copy);
      return;
    }
    const what = a.work.kind === "undo" ? `attempt ${a.attempt} of undoing step ${w.step_number}` : `attempt ${a.attempt}`;
    a.fail(stepError("lease_expired", `No consumer reported ${what} within its lease.`));
  },
};
