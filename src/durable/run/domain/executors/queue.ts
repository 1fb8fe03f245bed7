// Queue: a tool that does I/O runs in a queue consumer. The attempt's message is its lease: the
// event that begins it records the lease, the message carries everything the consumer needs, and a
// report must name the dispatch. When the lease passes with no report (a lost message, a dead or
// hopelessly late consumer), the attempt has failed and the retry policy decides.
import { leaseFor } from "../../../../execution/run-options";
import { stepError } from "../../../../execution/step-error";
import { stepMessage } from "../../../../execution/step-protocol";
import type { Json } from "../../../../lib/json";
import type { QueueTool } from "../../../../tools/tool";
import type { Executor } from "./executor";

export const queueExecutor: Executor<QueueTool> = {
  start(a) {
    const lease_until = a.m.now + leaseFor(a.timeoutMs);
    const key = a.idempotencyKey();
    const idempotency = key === undefined ? {} : { idempotency_key: key };
    const dispatch = a.begin({ lease_until, ...idempotency });
    const { run_id, tenant, trace_id } = a.m.state;
    const step = a.work.s.step_number;
    a.m.send(
      stepMessage(
        { run_id, tenant, step, attempt: a.attempt, dispatch, tool: a.tool.name, timeout_ms: a.timeoutMs, lease_until, trace_id, ...idempotency },
        a.input as Json,
      ),
    );
  },
  deadline: (w) => w.lease_until,
  expire(a) {
    const what = a.work.kind === "undo" ? `attempt ${a.attempt} of undoing step ${a.work.s.step_number}` : `attempt ${a.attempt}`;
    a.fail(stepError("lease_expired", `No consumer reported ${what} within its lease.`));
  },
};
