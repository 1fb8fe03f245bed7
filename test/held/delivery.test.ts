import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { todoAddImpl } from "../../src/tools/todo-store/execute";
import { DEV_TENANT } from "../../src/auth/api-keys";
import type { RunObject } from "../../src/durable/run/run-object";
import { runIdFor } from "../../src/durable/run/start-run";
import { api, createRun, getRun, uniq } from "../helpers";
import { advanceClock, deliver, deliverTo, eventTypes, events, executions, projectedRow, sentMessages, stub, watchdog } from "./harness";

const todoCount = async (runId: string) =>
  (await env.DB.prepare("SELECT count(*) AS n FROM todos WHERE created_by LIKE ?").bind(`${runId}:%`).first<{ n: number }>())!.n;

describe("queue deliveries: duplicates, reordering, loss", () => {
  it("runs a step once when its message is delivered twice in one batch", async () => {
    const adds = executions(todoAddImpl);
    const run = await createRun({ prompt: "add a todo to water the plants" });
    const [msg] = await sentMessages(run.run_id);
    const result = await deliver(msg!, msg!);
    expect(result.explicitAcks).toHaveLength(2); // both acked, neither retried
    expect(result.retryMessages).toHaveLength(0);
    expect((await getRun(run.run_id)).status).toBe("completed");
    // The tool ran once: the pre-flight turned the duplicate away (the todo's idempotency key
    // would hide a second run from the count of todos).
    expect(adds(run.run_id)).toBe(1);
    expect(await todoCount(run.run_id)).toBe(1);
    expect((await eventTypes(run.run_id)).filter((t) => t === "step.started")).toHaveLength(1);
  });

  it("ignores a redelivery of a step that already finished", async () => {
    const adds = executions(todoAddImpl);
    const run = await createRun({ prompt: "add a todo to call mom, then list my todos" });
    const [first] = await sentMessages(run.run_id);
    await deliver(first!);
    const [, second] = await sentMessages(run.run_id);
    await deliver(second!);
    const done = await getRun(run.run_id);
    expect(done.status).toBe("completed");
    const seqBefore = done.last_event_seq;
    await deliver(first!, second!);
    const after = await getRun(run.run_id);
    expect(after.last_event_seq).toBe(seqBefore); // nothing appended
    expect(after.execution_log).toEqual(done.execution_log);
    expect(adds(run.run_id)).toBe(1);
    expect(await todoCount(run.run_id)).toBe(1);
  });

  it("handles parallel steps delivered in reverse order, reporting them together", async () => {
    const run = await createRun({
      plan: {
        steps: [
          { step_number: 1, tool: "TodoStore.list", input: { status: "all" } },
          { step_number: 2, tool: "TodoStore.list", input: { status: "open" } },
          { step_number: 3, tool: "TodoStore.list", input: { status: "done" } },
          { step_number: 4, tool: "Calculator.evaluate", input: { expression: "{{steps.1.output.count}} * 0 + 4" }, depends_on: [1, 2, 3] },
        ],
      },
    });
    const msgs = await sentMessages(run.run_id);
    expect(msgs.map((m) => m.step)).toEqual([1, 2, 3]);
    const before = (await events(run.run_id)).length;
    await deliver(...[...msgs].reverse());
    const done = await getRun(run.run_id);
    expect(done.status).toBe("completed");
    expect(done.result).toBe(4);
    expect(done.execution_log.slice(0, 3).every((s) => typeof (s.output as { count: number }).count === "number")).toBe(true);
    // One report for the three (they ended together), so one row of events for all of them.
    const usage = (await (await api(`/runs/${run.run_id}/usage`)).json()) as { do_requests: number; shared_requests: Record<string, number> };
    expect(usage.do_requests).toBe(1 + 1 + 1 + 1); // slot, create, one report, slot back
    // Of those, the slot and its return went to the tenant's limiter, an object every run of the tenant shares.
    expect(usage.shared_requests).toEqual({ tenant_limiter: 2 });
    expect((await events(run.run_id)).length - before).toBe(3 + 2 + 1); // 3 succeeded, the inline step, run.completed
  });

  it("ignores a message whose dispatch is not the step's current one", async () => {
    const adds = executions(todoAddImpl);
    const run = await createRun({ prompt: `add a todo to first ${uniq()}, then add a todo to second ${uniq()}` });
    const [first] = await sentMessages(run.run_id);
    // A forged (or very stale) message for step 2, which has not been dispatched.
    await deliver({ ...first!, step: 2, dispatch: first!.dispatch + 100, input: { title: "forged" } });
    expect((await getRun(run.run_id)).execution_log[1]!.status).toBe("pending");
    expect(adds(run.run_id)).toBe(0);
    expect(await todoCount(run.run_id)).toBe(0);
  });

  it("dispatches a step again when its message is lost, and runs it once", async () => {
    const adds = executions(todoAddImpl);
    const run = await createRun({ prompt: "add a todo to find the lost message", options: { step_timeout_ms: 100, retry: { initial_delay_ms: 0 } } });
    const [lost] = await sentMessages(run.run_id);
    await advanceClock(run.run_id, lost!.lease_until - Date.now() + 1);
    await watchdog(run.run_id);
    const sent = await sentMessages(run.run_id);
    expect(sent.map((m) => m.attempt)).toEqual([1, 2]);
    // The "lost" message turns up after all, beside the new one: the step still runs once.
    await deliver(sent[0]!, sent[1]!);
    const done = await getRun(run.run_id);
    expect(done.status).toBe("completed");
    expect(done.execution_log[0]!.attempts).toBe(2);
    expect(adds(run.run_id)).toBe(1);
    expect(await todoCount(run.run_id)).toBe(1);
  });

  it("acks a message it cannot parse instead of retrying it forever", async () => {
    const result = await deliver({ nonsense: true } as never, { run_id: "run_x", tenant: "dev", step: 1, attempt: 1 } as never);
    expect(result.explicitAcks).toHaveLength(2); // the second is of the earlier claim-based protocol
    expect(result.retryMessages).toHaveLength(0);
  });

  it("keeps event sequence numbers gap-free", async () => {
    const run = await createRun({ prompt: "list my todos and list my open todos, then calculate 1 + 1" });
    await deliver(...(await sentMessages(run.run_id)));
    const seqs = (await events(run.run_id)).map((e) => e.seq);
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
  });
});

describe("usage counters", () => {
  it("count the billable operations a run made", async () => {
    const adds = executions(todoAddImpl);
    // The run's clock stands still, so it ends within CREATION_ROW_DELAY_MS however slow the machine.
    const key = `usage-${uniq()}`;
    await runInDurableObject(stub(await runIdFor(DEV_TENANT, key)), (instance: RunObject) => {
      const frozen = Date.now();
      instance.clock = () => frozen;
    });
    const run = await createRun(
      {
        plan: {
          steps: [
            { step_number: 1, tool: "TodoStore.list", input: {} },
            { step_number: 2, tool: "TodoStore.list", input: { status: "open" } },
            { step_number: 3, tool: "TodoStore.add", input: { title: `usage ${uniq()}` }, depends_on: [1, 2] },
          ],
        },
      },
      { "idempotency-key": key },
    );
    await deliver(...(await sentMessages(run.run_id)));
    const third = (await sentMessages(run.run_id)).find((m) => m.step === 3)!;
    await deliver(third);
    await deliver(third); // a duplicate costs its pre-flight check, nothing more
    expect(adds(run.run_id)).toBe(1);
    expect(await projectedRow(run.run_id, "completed")).not.toBeNull();
    const res = await api(`/runs/${run.run_id}/usage`);
    expect(res.status).toBe(200);
    const usage = (await res.json()) as Record<string, number>;
    // slot taken + create + one report for steps 1 and 2 + (pre-flight + report) for step 3 +
    // the duplicate's pre-flight + the slot given back
    expect(usage).toMatchObject({ do_requests: 1 + 1 + 1 + 2 + 1 + 1, queue_messages: 3, queued_attempts: 3 });
    // One row per command that appended events (create, two reports), plus bookkeeping and slot rows.
    expect(usage.storage_rows_written).toBeGreaterThanOrEqual(3);
    expect(usage.storage_rows_written).toBeLessThan((await events(run.run_id)).length + 8);
    // Its end row only: a run that ends within CREATION_ROW_DELAY_MS writes no creation row (issue 33).
    expect(usage.d1_statements).toBe(1);
    expect(usage.d1_rows_written).toBeGreaterThanOrEqual(2);
  });

  it("a calculation that runs inline costs one request and one D1 statement", async () => {
    const run = await createRun({ prompt: "calculate (41*7)+13" });
    expect(run).toMatchObject({ status: "completed", result: 300 });
    expect(await projectedRow(run.run_id, "completed")).not.toBeNull();
    const usage = (await (await api(`/runs/${run.run_id}/usage`)).json()) as Record<string, number>;
    expect(usage).toMatchObject({ do_requests: 1, queue_messages: 0, d1_statements: 1, shared_requests: {} });
  });
});

describe("the dead-letter queue", () => {
  it("wakes the run object's watchdog for a dead-lettered message instead of running the step", async () => {
    const adds = executions(todoAddImpl);
    const run = await createRun({ prompt: "add a todo to come back from the dead letters", options: { retry: { initial_delay_ms: 0 } } });
    const [msg] = await sentMessages(run.run_id);
    // The consumer crashed on it until the queue gave up; by now its lease has run out.
    await advanceClock(run.run_id, msg!.lease_until - Date.now() + 1);
    const result = await deliverTo("crane-steps-dlq", msg!);
    expect(result.explicitAcks).toHaveLength(1);
    // The nudge ran the watchdog: the step was taken back and dispatched again, and nothing ran it.
    const retry = (await events(run.run_id)).find((e) => e.type === "step.retry_scheduled")!;
    expect(retry.data).toMatchObject({ step: 1, error: { code: "lease_expired" } });
    expect((await sentMessages(run.run_id)).map((m) => m.attempt)).toEqual([1, 2]);
    expect(adds(run.run_id)).toBe(0);
    expect(await todoCount(run.run_id)).toBe(0);
  });
});
