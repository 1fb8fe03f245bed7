// A message that reaches its consumer with less than the step's timeout left of its lease (it waited
// behind a backlog) asks the run object to renew the lease from now, and runs under it: no retry,
// no second message. The run object's clock is moved to the same point of the lease as the message's.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { RunEventData } from "../../src/durable/run/domain/events";
import type { StepMessage } from "../../src/execution/step-protocol";
import { api, createRun, getRun, uniq } from "../helpers";
import { advanceClock, deliver, deliverContinuing, events, eventTypes, sentMessages, watchdog } from "./harness";

const todoCount = async (runId: string) =>
  (await env.DB.prepare("SELECT count(*) AS n FROM todos WHERE created_by LIKE ?").bind(`${runId}:%`).first<{ n: number }>())!.n;

/** A run whose one step adds a todo, with a 10 s timeout, and its first message. */
async function todoRun(): Promise<{ runId: string; msg: StepMessage }> {
  const run = await createRun({ prompt: `add a todo to ${uniq()}`, options: { step_timeout_ms: 10_000 } });
  const [msg] = await sentMessages(run.run_id);
  return { runId: run.run_id, msg: msg! };
}

/**
 * The message as it arrives with `leftMs` of its lease left, and the run object's clock at the same
 * point of that lease (both clocks read real time plus an offset, so they agree).
 */
async function arrivingWith(runId: string, msg: StepMessage, leftMs: number): Promise<StepMessage> {
  await advanceClock(runId, msg.lease_until - leftMs - Date.now());
  return { ...msg, lease_until: Date.now() + leftMs };
}

describe("a message whose lease ends before the step's timeout would", () => {
  it("has its lease renewed from now and runs: one attempt, no retry, no second message", async () => {
    const { runId, msg } = await todoRun();
    const late = await arrivingWith(runId, msg, msg.timeout_ms / 2);
    await deliverContinuing(late);

    expect((await getRun(runId)).status).toBe("completed");
    expect(await todoCount(runId)).toBe(1);
    const log = await events(runId);
    const renewed = log.find((e) => e.type === "step.lease_renewed")!.data as RunEventData["step.lease_renewed"];
    // From the run object's now (5 s before the old lease ended): the timeout and its margin, past the old lease.
    expect(renewed).toMatchObject({ step: 1, dispatch: msg.dispatch });
    expect(renewed.lease_until).toBeGreaterThan(msg.lease_until);
    expect(log.some((e) => e.type === "step.retry_scheduled")).toBe(false);
    expect((await sentMessages(runId)).map((m) => m.attempt)).toEqual([1]);
    const usage = (await (await api(`/runs/${runId}/usage`)).json()) as { queued_attempts: number };
    expect(usage.queued_attempts).toBe(1);
  });

  it("delivered twice at once, runs once: the renewal is its pre-flight, and the second is already started", async () => {
    const { runId, msg } = await todoRun();
    const late = await arrivingWith(runId, msg, msg.timeout_ms / 2);
    await deliver(late, late);
    expect((await getRun(runId)).status).toBe("completed");
    expect(await todoCount(runId)).toBe(1);
    expect((await eventTypes(runId)).filter((t) => t === "step.lease_renewed")).toHaveLength(1);
  });

  it("does nothing once the run object's lease has passed: the watchdog takes the attempt back and retries it", async () => {
    const { runId, msg } = await todoRun();
    // The consumer still sees a moment of lease; the run object, a moment later, sees none.
    await advanceClock(runId, msg.lease_until + 1 - Date.now());
    await deliver({ ...msg, lease_until: Date.now() + 1_000 });
    expect(await todoCount(runId)).toBe(0);
    expect(await eventTypes(runId)).not.toContain("step.lease_renewed");

    await watchdog(runId);
    const retry = (await events(runId)).find((e) => e.type === "step.retry_scheduled")!.data as RunEventData["step.retry_scheduled"];
    expect(retry.error.code).toBe("lease_expired");
    expect(await todoCount(runId)).toBe(0);
  });
});
