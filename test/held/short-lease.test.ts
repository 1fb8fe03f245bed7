import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { RunEventData } from "../../src/durable/run/domain/events";
import { api, createRun, getRun, uniq } from "../helpers";
import { deliver, deliverContinuing, events, sentMessages } from "./harness";

const todoCount = async (runId: string) =>
  (await env.DB.prepare("SELECT count(*) AS n FROM todos WHERE created_by LIKE ?").bind(`${runId}:%`).first<{ n: number }>())!.n;

describe("a message whose lease ends before the step's timeout would", () => {
  it("is not started: the attempt is reported lost at once and the step runs again under a fresh lease, once", async () => {
    const run = await createRun({ prompt: `add a todo to ${uniq()}`, options: { step_timeout_ms: 10_000, retry: { initial_delay_ms: 0 } } });
    const [msg] = await sentMessages(run.run_id);
    // As the message would arrive after waiting in a backlogged queue: half its timeout of lease left.
    await deliver({ ...msg!, lease_until: Date.now() + msg!.timeout_ms / 2 });
    expect(await todoCount(run.run_id)).toBe(0);
    const retry = (await events(run.run_id)).find((e) => e.type === "step.retry_scheduled");
    expect((retry?.data as RunEventData["step.retry_scheduled"] | undefined)?.error.code).toBe("lease_expired");

    const sent = await sentMessages(run.run_id);
    expect(sent.map((m) => m.attempt)).toEqual([1, 2]);
    expect(sent[1]!.lease_until - Date.now()).toBeGreaterThan(sent[1]!.timeout_ms);
    await deliver(sent[1]!);
    expect((await getRun(run.run_id)).status).toBe("completed");
    expect(await todoCount(run.run_id)).toBe(1);
  });

  it("is tried again at once, not after the backoff, by the consumer that found it too late", async () => {
    // The default retry policy: a backoff of a second or more before attempt 2, were it applied.
    const run = await createRun({ prompt: `add a todo to ${uniq()}`, options: { step_timeout_ms: 10_000 } });
    const [msg] = await sentMessages(run.run_id);
    await deliverContinuing({ ...msg!, lease_until: Date.now() + msg!.timeout_ms / 2 });
    // One delivery: the report of the late message took attempt 2, and the consumer ran it.
    expect((await getRun(run.run_id)).status).toBe("completed");
    expect(await todoCount(run.run_id)).toBe(1);
    const log = await events(run.run_id);
    const retry = log.find((e) => e.type === "step.retry_scheduled")!;
    expect((retry.data as RunEventData["step.retry_scheduled"]).delay_ms).toBe(0);
    expect((await sentMessages(run.run_id)).map((m) => m.attempt)).toEqual([1, 2]);
    const usage = (await (await api(`/runs/${run.run_id}/usage`)).json()) as { queued_attempts: number };
    expect(usage.queued_attempts).toBe(1);
  });
});
