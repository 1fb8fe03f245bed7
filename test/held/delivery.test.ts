import { env } from "cloudflare:workers";
import { runDurableObjectAlarm } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { api, createRun, getRun } from "../helpers";
import { deliver, eventTypes, events, sentMessages, sleep, stub } from "./harness";

const todoCount = async (runId: string) =>
  (await env.DB.prepare("SELECT count(*) AS n FROM todos WHERE created_by LIKE ?").bind(`${runId}:%`).first<{ n: number }>())!.n;

describe("queue deliveries: duplicates, reordering, loss", () => {
  it("runs a step once when its message is delivered twice in one batch", async () => {
    const run = await createRun({ prompt: "add a todo to water the plants" });
    const [msg] = await sentMessages(run.run_id);
    const result = await deliver(msg!, msg!);
    expect(result.explicitAcks).toHaveLength(2); // both acked, neither retried
    expect(result.retryMessages).toHaveLength(0);
    expect((await getRun(run.run_id)).status).toBe("completed");
    expect(await todoCount(run.run_id)).toBe(1);
    expect((await eventTypes(run.run_id)).filter((t) => t === "step.started")).toHaveLength(1);
  });

  it("ignores a redelivery of a step that already finished", async () => {
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
    expect(await todoCount(run.run_id)).toBe(1);
  });

  it("handles parallel steps delivered in reverse order", async () => {
    const run = await createRun({ prompt: "calculate 1 + 1 and calculate 2 + 2 and calculate 3 + 3, then list my todos" });
    const msgs = await sentMessages(run.run_id);
    expect(msgs.map((m) => m.step)).toEqual([1, 2, 3]);
    await deliver(...[...msgs].reverse());
    const [, , , list] = await sentMessages(run.run_id);
    expect(list!.step).toBe(4);
    await deliver(list!);
    const done = await getRun(run.run_id);
    expect(done.status).toBe("completed");
    expect(done.execution_log.slice(0, 3).map((s) => s.output)).toEqual([2, 4, 6]);
  });

  it("rejects a message for a step whose dependencies have not run", async () => {
    const run = await createRun({ prompt: "calculate 1 + 1, then calculate 2 + 2" });
    const early = { run_id: run.run_id, tenant: "dev", step: 2, attempt: 1 };
    await deliver(early);
    expect((await getRun(run.run_id)).execution_log[1]!.status).toBe("pending");
    expect(await eventTypes(run.run_id)).not.toContain("step.started");
  });

  it("sends a step again when its message is lost, and runs it once", async () => {
    const run = await createRun({ prompt: "add a todo to find the lost message", options: { step_timeout_ms: 100 } });
    expect((await sentMessages(run.run_id)).length).toBe(1);
    await sleep(1100); // past the dispatch deadline (1 s for a 100 ms step)
    await runDurableObjectAlarm(stub(run.run_id));
    const sent = await sentMessages(run.run_id);
    expect(sent.length).toBeGreaterThanOrEqual(2);
    expect(await eventTypes(run.run_id)).toContain("step.redispatched");
    // Both the original and the resent message arrive: the step still runs once.
    await deliver(sent[0]!, sent[1]!);
    expect((await getRun(run.run_id)).status).toBe("completed");
    expect(await todoCount(run.run_id)).toBe(1);
  });

  it("acks a message it cannot parse instead of retrying it forever", async () => {
    const result = await deliver({ nonsense: true } as never);
    expect(result.explicitAcks).toHaveLength(1);
    expect(result.retryMessages).toHaveLength(0);
  });

  it("keeps event sequence numbers gap-free", async () => {
    const run = await createRun({ prompt: "calculate 1 + 1 and calculate 2 + 2" });
    await deliver(...(await sentMessages(run.run_id)));
    const seqs = (await events(run.run_id)).map((e) => e.seq);
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
  });
});

describe("usage counters", () => {
  it("count the billable operations a run made", async () => {
    const run = await createRun({ prompt: "calculate 1 + 1 and calculate 2 + 2, then list my todos" });
    await deliver(...(await sentMessages(run.run_id)));
    await deliver(...(await sentMessages(run.run_id)).filter((m) => m.step === 3));
    await deliver(...(await sentMessages(run.run_id)).filter((m) => m.step === 3)); // a duplicate costs a claim too
    const res = await api(`/runs/${run.run_id}/usage`);
    expect(res.status).toBe(200);
    const usage = (await res.json()) as Record<string, number>;
    const eventCount = (await events(run.run_id)).length;
    // the tenant slot taken + create + (claim + report) for each of 3 steps + the duplicate's
    // rejected claim + the slot given back at the end
    expect(usage).toMatchObject({ do_requests: 1 + 1 + 3 * 2 + 1 + 1, queue_messages: 3 });
    expect(usage.storage_rows_written).toBeGreaterThanOrEqual(eventCount);
    expect(usage.d1_statements).toBe(3); // runs row at creation; runs row + steps at the end
    expect(usage.d1_rows_written).toBeGreaterThanOrEqual(1 + 1 + 3);
  });
});
