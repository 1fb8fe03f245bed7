// Human.approve end to end in workerd: the decision route, the run's `waiting` status (live and in
// D1), timeouts the watchdog applies (time moved with the run object's clock, never slept), a
// wait that survives eviction, and what a waiting step costs (no queue message).
import { evictDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { api, createRun, errorOf, getRun, newApiKey } from "../helpers";
import { advanceClock, eventTypes, events, projectedRow, sentMessages, stub, watchdog } from "./harness";

const HOUR_S = 3600;

/** Step 1 asks for approval; step 2 computes once it is given. */
const approvalPlan = (input: Record<string, unknown> = {}) => ({
  plan: {
    steps: [
      { step_number: 1, tool: "Human.approve", input: { message: "Deploy to production?", timeout_seconds: HOUR_S, ...input } },
      { step_number: 2, tool: "Calculator.evaluate", input: { expression: "6 * 7" }, depends_on: [1] },
    ],
  },
});

const decide = (runId: string, step: number | string, json: unknown, key?: string) =>
  api(`/runs/${runId}/steps/${step}/decision`, { method: "POST", json, ...(key ? { key } : {}) });

describe("Human.approve", () => {
  it("waits with the run `waiting` and no queue message, then an approval completes the run", async () => {
    const run = await createRun(approvalPlan());
    expect(run.status).toBe("waiting");
    expect(run.execution_log[0]).toMatchObject({ status: "waiting", attempts: 1, input: { message: "Deploy to production?" } });
    // The timeout counts from the command's time; the event's own time is read a moment later.
    const waits = Date.parse(run.execution_log[0]!.waiting_until!) - Date.parse(run.execution_log[0]!.started_at!);
    expect(waits).toBeGreaterThan(HOUR_S * 1000 - 1000);
    expect(waits).toBeLessThanOrEqual(HOUR_S * 1000);
    // The read model says so too: GET /runs?status=waiting lists the runs that need someone.
    expect(await projectedRow(run.run_id, "waiting")).not.toBeNull();
    const waiting = (await (await api("/runs?status=waiting&limit=100")).json()) as { runs: { run_id: string }[] };
    expect(waiting.runs.map((r) => r.run_id)).toContain(run.run_id);
    // Waiting holds no consumer: nothing was sent to the step queue; its one message is its row for the read model.
    expect(await sentMessages(run.run_id)).toEqual([]);
    expect(await (await api(`/runs/${run.run_id}/usage`)).json()).toMatchObject({ queued_attempts: 0, queue_messages: 1, read_model_rows: 1 });

    const res = await decide(run.run_id, 1, { decision: "approve", comment: "go" });
    expect(res.status).toBe(200);
    const step = (await res.json()) as { status: string; output: Record<string, unknown> };
    expect(step).toMatchObject({ status: "succeeded", output: { decision: "approve", comment: "go", decided_by: "dev" } });
    expect(Date.parse(step.output.decided_at as string)).not.toBeNaN();
    const done = await getRun(run.run_id);
    expect(done).toMatchObject({ status: "completed", result: 42 });
    expect(await eventTypes(run.run_id)).toEqual([
      "run.created",
      "plan.accepted",
      "run.started",
      "step.waiting",
      "step.decided",
      "step.started",
      "step.succeeded",
      "run.completed",
    ]);
    expect(await projectedRow(run.run_id, "completed")).not.toBeNull();
  });

  it("a rejection fails the step (not retryable) and the run", async () => {
    const run = await createRun(approvalPlan());
    const res = await decide(run.run_id, 1, { decision: "reject", comment: "not today" });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: "failed", error: { code: "approval_rejected", message: "Rejected by dev: not today" } });
    const failed = await getRun(run.run_id);
    expect(failed).toMatchObject({ status: "failed", error: { code: "approval_rejected", step_number: 1 } });
    expect(failed.execution_log[1]).toMatchObject({ status: "skipped", skip_reason: "dependency_failed" });
  });

  it("counts one decision: a second one is a 409 in the error shape, and changes nothing", async () => {
    const run = await createRun(approvalPlan());
    expect((await decide(run.run_id, 1, { decision: "approve" })).status).toBe(200);
    const before = await events(run.run_id);
    for (const decision of ["approve", "reject"]) {
      const again = await decide(run.run_id, 1, { decision });
      expect(again.status).toBe(409);
      expect(await errorOf(again)).toMatchObject({ code: "run_finished" });
    }
    expect(await events(run.run_id)).toEqual(before);
  });

  it("applies exactly one of two decisions sent at once", async () => {
    const run = await createRun(approvalPlan());
    const answers = await Promise.all([decide(run.run_id, 1, { decision: "approve" }), decide(run.run_id, 1, { decision: "reject" })]);
    expect(answers.map((r) => r.status).sort()).toEqual([200, 409]);
    expect((await events(run.run_id)).filter((e) => e.type === "step.decided")).toHaveLength(1);
    const winner = (await answers.find((r) => r.status === 200)!.json()) as { status: string };
    expect((await getRun(run.run_id)).status).toBe(winner.status === "succeeded" ? "completed" : "failed");
  });

  it("refuses a step that is not a waiting approval (409) and one the plan lacks (404)", async () => {
    const run = await createRun({
      plan: {
        steps: [
          { step_number: 1, tool: "Human.approve", input: { message: "first" } },
          { step_number: 2, tool: "Human.approve", input: { message: "second" }, depends_on: [1] },
        ],
      },
    });
    const early = await decide(run.run_id, 2, { decision: "approve" });
    expect(early.status).toBe(409);
    expect(await errorOf(early)).toMatchObject({ code: "step_not_waiting" });
    expect((await decide(run.run_id, 1, { decision: "approve" })).status).toBe(200);
    const twice = await decide(run.run_id, 1, { decision: "approve" });
    expect(await errorOf(twice)).toMatchObject({ code: "step_not_waiting", message: "Step 1 was decided already." });
    for (const step of [9, 0, "x"]) {
      const res = await decide(run.run_id, step, { decision: "approve" });
      expect(res.status).toBe(404);
      expect(await errorOf(res)).toMatchObject({ code: "step_not_found" });
    }
    const bad = await decide(run.run_id, 2, { decision: "maybe" });
    expect(bad.status).toBe(400);
    expect((await decide(run.run_id, 2, { decision: "approve", extra: 1 })).status).toBe(400);
    expect((await getRun(run.run_id)).execution_log[1]!.status).toBe("waiting");
  });

  it("another tenant's run, and a missing one, answer the same 404", async () => {
    const run = await createRun(approvalPlan());
    const other = await newApiKey(`appr-${crypto.randomUUID().slice(0, 8)}`);
    const res = await decide(run.run_id, 1, { decision: "approve" }, other.secret);
    expect(res.status).toBe(404);
    expect(await errorOf(res)).toMatchObject({ code: "run_not_found" });
    const missing = await decide(`run_${"0".repeat(32)}`, 1, { decision: "approve" });
    expect(missing.status).toBe(404);
    expect(await errorOf(missing)).toMatchObject({ code: "run_not_found" });
    expect((await getRun(run.run_id)).status).toBe("waiting");
  });

  it.each([
    { on_timeout: undefined, status: "failed", code: "approval_timeout" },
    { on_timeout: "reject", status: "failed", code: "approval_timeout" },
    { on_timeout: "approve", status: "completed", code: undefined },
  ])("times out by the alarm with on_timeout $on_timeout", async ({ on_timeout, status, code }) => {
    const run = await createRun(approvalPlan(on_timeout ? { on_timeout } : {}));
    // Just before the timeout the watchdog leaves it waiting.
    await advanceClock(run.run_id, HOUR_S * 1000 - 5_000);
    await watchdog(run.run_id);
    expect((await getRun(run.run_id)).status).toBe("waiting");
    await advanceClock(run.run_id, HOUR_S * 1000 + 1_000);
    await watchdog(run.run_id);
    const ended = await getRun(run.run_id);
    expect(ended.status).toBe(status);
    expect(ended.error?.code).toBe(code);
    const decided = (await events(run.run_id)).find((e) => e.type === "step.decided");
    expect(decided?.data).toMatchObject({ decided_by: "timeout", timed_out: true, decision: on_timeout ?? "reject" });
    if (status === "completed") expect(ended.result).toBe(42);
  });

  it("with the default timeout and no run_timeout_ms, the approval's own on_timeout decides, not the run's default day", async () => {
    const run = await createRun({
      plan: {
        steps: [
          { step_number: 1, tool: "Human.approve", input: { message: "ok?", on_timeout: "approve" } },
          { step_number: 2, tool: "Calculator.evaluate", input: { expression: "2 + 2" }, depends_on: [1] },
        ],
      },
    });
    // The run's deadline was set past the wait, and says so in its options.
    expect(run.options.run_timeout_ms).toBe(2 * 24 * HOUR_S * 1000);
    await advanceClock(run.run_id, 24 * HOUR_S * 1000 - 60_000);
    await watchdog(run.run_id);
    expect((await getRun(run.run_id)).status).toBe("waiting");
    await advanceClock(run.run_id, 24 * HOUR_S * 1000 + 1_000);
    await watchdog(run.run_id);
    expect(await getRun(run.run_id)).toMatchObject({ status: "completed", result: 4 });
  });

  it("an explicit run_timeout_ms still bounds a waiting run", async () => {
    const run = await createRun({ ...approvalPlan(), options: { run_timeout_ms: 60_000 } });
    expect(run.options.run_timeout_ms).toBe(60_000);
    await advanceClock(run.run_id, 61_000);
    await watchdog(run.run_id);
    expect(await getRun(run.run_id)).toMatchObject({ status: "failed", error: { code: "run_timeout" } });
  });

  it("a decision after the timeout is a 409, even before the alarm has acted on it", async () => {
    const run = await createRun(approvalPlan());
    await advanceClock(run.run_id, HOUR_S * 1000 + 1_000);
    const res = await decide(run.run_id, 1, { decision: "approve" });
    expect(res.status).toBe(409);
    expect(await errorOf(res)).toMatchObject({ code: "decision_too_late" });
    expect(await getRun(run.run_id)).toMatchObject({ status: "failed", error: { code: "approval_timeout" } });
  });

  it("survives eviction: the object rebuilt from its log is still waiting, then takes the decision", async () => {
    const run = await createRun(approvalPlan());
    await evictDurableObject(stub(run.run_id));
    expect((await getRun(run.run_id)).execution_log[0]!.status).toBe("waiting");
    expect((await decide(run.run_id, 1, { decision: "approve" })).status).toBe(200);
    expect((await getRun(run.run_id)).status).toBe("completed");
  });

  it("a cancelled waiting run takes no decision", async () => {
    const run = await createRun(approvalPlan());
    expect((await api(`/runs/${run.run_id}/cancel`, { method: "POST" })).status).toBe(200);
    const res = await decide(run.run_id, 1, { decision: "approve" });
    expect(res.status).toBe(409);
    expect(await errorOf(res)).toMatchObject({ code: "run_finished" });
  });
});
