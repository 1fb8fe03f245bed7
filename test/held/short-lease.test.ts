import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { RunEventData } from "../../src/durable/run/domain/events";
import { createRun, getRun, uniq } from "../helpers";
import { deliver, events, sentMessages } from "./harness";

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
});
