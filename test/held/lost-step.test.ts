// A step whose message is lost (a crash of the runtime took it, say) is not left to its whole lease
// (about 95 s with the default 30 s timeout): its run object sends the same dispatch again at the
// attempt's resend time. Nothing here sleeps: the run object's clock is moved and its alarm run.
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { RunEventData } from "../../src/durable/run/domain/events";
import type { RunObject } from "../../src/durable/run/run-object";
import { todoAddImpl as todoAdd, todoListImpl as todoList } from "../../src/tools/todo-store/execute";
import { createRun, getRun, uniq } from "../helpers";
import { deliver, events, executions, sentMessages, stub, watchdog } from "./harness";

const todoCount = async (runId: string) =>
  (await env.DB.prepare("SELECT count(*) AS n FROM todos WHERE created_by LIKE ?").bind(`${runId}:%`).first<{ n: number }>())!.n;

/** The step.started of the run's first dispatch: its time and its deadlines. */
async function firstStart(runId: string) {
  const e = (await events(runId)).find((x) => x.type === "step.started")!;
  return { at: Date.parse(e.at), ...(e.data as RunEventData["step.started"]) };
}

/** Sets the run object's clock to `to` (epoch ms) and stops it there, then runs its watchdog. */
async function watchdogAt(runId: string, to: number): Promise<void> {
  await runInDurableObject(stub(runId), (instance: RunObject) => {
    instance.clock = () => to;
  });
  await watchdog(runId);
}

describe("a step whose message was lost", () => {
  it("is sent again within 15 s of its dispatch, the same dispatch under the same lease, and its copy completes the run with one effect", async () => {
    const adds = executions(todoAdd);
    const run = await createRun({ prompt: `add a todo to ${uniq()}` });
    const [lost] = await sentMessages(run.run_id);
    const started = await firstStart(run.run_id);
    // The default step timeout: the lease is long (a backlog must not fail steps), the resend time is not.
    expect(started.lease_until! - started.at).toBeGreaterThan(90_000);
    expect(started.resend_at! - started.at).toBeLessThan(15_000);

    // Nobody reports. A moment before the resend time, the watchdog leaves the attempt alone.
    await watchdogAt(run.run_id, started.resend_at! - 1);
    expect(await sentMessages(run.run_id)).toHaveLength(1);
    await watchdogAt(run.run_id, started.resend_at!);
    const sent = await sentMessages(run.run_id);
    expect(sent).toHaveLength(2);
    expect(sent[1]).toEqual({ ...lost, copy: 1 });

    await deliver(sent[1]!);
    const done = await getRun(run.run_id);
    expect(done.status).toBe("completed");
    // A copy is not an attempt: the step ran once, on its first attempt.
    expect(done.execution_log[0]).toMatchObject({ status: "succeeded", attempts: 1 });
    // The original turns up after all: its pre-flight refuses it.
    await deliver(lost!);
    expect(adds(run.run_id)).toBe(1);
    expect(await todoCount(run.run_id)).toBe(1);
  });

  it("a copy of a step whose original already reported does nothing, even for a tool without side effects", async () => {
    const lists = executions(todoList);
    const run = await createRun({ prompt: "list my todos" });
    const [original] = await sentMessages(run.run_id);
    // Slow, not lost: the resend time passes before the original reaches a consumer.
    await watchdogAt(run.run_id, (await firstStart(run.run_id)).resend_at!);
    const copy = (await sentMessages(run.run_id)).find((m) => m.copy === 1)!;
    expect(copy).toMatchObject({ dispatch: original!.dispatch, lease_until: original!.lease_until });
    await deliver(original!);
    expect((await getRun(run.run_id)).status).toBe("completed");
    await deliver(copy);
    expect(lists(run.run_id)).toBe(1);
  });

  it("a copy of a step whose original is already running its effect does nothing", async () => {
    const adds = executions(todoAdd);
    const run = await createRun({ prompt: `add a todo to ${uniq()}` });
    const [original] = await sentMessages(run.run_id);
    await watchdogAt(run.run_id, (await firstStart(run.run_id)).resend_at!);
    const copy = (await sentMessages(run.run_id)).find((m) => m.copy === 1)!;
    expect(copy).toMatchObject({ dispatch: original!.dispatch, lease_until: original!.lease_until });
    // The original's consumer passed its pre-flight check and is running the tool (a slow step).
    expect(await stub(run.run_id).preflight(original!.step, original!.dispatch)).toEqual({ go: true });
    await deliver(copy);
    expect(adds(run.run_id)).toBe(0);
    expect((await getRun(run.run_id)).execution_log[0]).toMatchObject({ status: "running", attempts: 1 });
  });

  it("when every copy is lost too, the lease still decides: the attempt fails as lease_expired and the step runs again", async () => {
    const run = await createRun({ prompt: `add a todo to ${uniq()}`, options: { retry: { initial_delay_ms: 0, max_delay_ms: 0 } } });
    const started = await firstStart(run.run_id);
    for (let i = 0; i < 5; i++) {
      const next = (await getRun(run.run_id)).execution_log[0]!.status === "running" ? await resendAt(run.run_id) : null;
      if (next === null) break;
      await watchdogAt(run.run_id, next);
    }
    const copies = (await sentMessages(run.run_id)).filter((m) => m.copy !== undefined);
    expect(copies.map((m) => m.copy)).toEqual([1, 2]);
    expect((await events(run.run_id)).some((e) => e.type === "step.retry_scheduled")).toBe(false);
    await watchdogAt(run.run_id, started.lease_until!);
    const retry = (await events(run.run_id)).find((e) => e.type === "step.retry_scheduled")!;
    expect(retry.data).toMatchObject({ step: 1, attempt: 1, error: { code: "lease_expired" } });
    const second = (await sentMessages(run.run_id)).find((m) => m.attempt === 2)!;
    await deliver(second);
    expect((await getRun(run.run_id)).status).toBe("completed");
    expect(await todoCount(run.run_id)).toBe(1);
  });
});

/** The step's next resend time as the log says it (null: no copy is due any more). */
async function resendAt(runId: string): Promise<number | null> {
  let next: number | null = null;
  for (const e of await events(runId)) {
    if (e.type === "step.started") next = (e.data as RunEventData["step.started"]).resend_at ?? null;
    if (e.type === "step.resent") next = (e.data as RunEventData["step.resent"]).next_resend_at ?? null;
  }
  return next;
}
