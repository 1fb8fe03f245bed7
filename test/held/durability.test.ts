import { env } from "cloudflare:workers";
import { evictDurableObject, runDurableObjectAlarm } from "cloudflare:test";
import { describe, expect, inject, it } from "vitest";
import { projectRun } from "../../src/durable/run-projection";
import { foldEvents } from "../../src/durable/run-state";
import { api, createRun, errorOf, getRun } from "../helpers";
import { deliver, eventTypes, events, sentMessages, sleep, stub } from "./harness";

const upstream = inject("upstreamUrl");
const uniq = () => crypto.randomUUID().slice(0, 8);

/** Runs the watchdog, whether or not the runtime already fired the alarm on its own. */
async function watchdog(runId: string) {
  await runDurableObjectAlarm(stub(runId));
}

describe("leases: a consumer that never reports", () => {
  it("takes the step back when its lease expires, runs it again, and ignores the late report", async () => {
    const run = await createRun({ prompt: "add a todo to survive a dead consumer", options: { step_timeout_ms: 100, retry: { initial_delay_ms: 0, max_delay_ms: 0 } } });
    const s = stub(run.run_id);
    // A consumer claims attempt 1, then dies without reporting.
    const claim = (await s.claim(1, 1)) as { ok: boolean };
    expect(claim.ok).toBe(true);
    expect((await getRun(run.run_id)).execution_log[0]!.status).toBe("running");
    await sleep(350); // the lease is timeout (100 ms) + margin (200 ms)
    await watchdog(run.run_id);
    await sleep(10);
    await watchdog(run.run_id);
    const types = await eventTypes(run.run_id);
    expect(types).toContain("step.retry_scheduled");
    const retry = (await events(run.run_id)).find((e) => e.type === "step.retry_scheduled")!;
    expect(retry.data).toMatchObject({ step: 1, attempt: 1, error: { code: "lease_expired" } });
    const second = (await sentMessages(run.run_id)).find((m) => m.attempt === 2);
    expect(second).toBeDefined();
    await deliver(second!);
    const done = await getRun(run.run_id);
    expect(done.status).toBe("completed");
    expect(done.execution_log[0]!.attempts).toBe(2);
    // The first consumer comes back from the dead and reports: acknowledged, ignored.
    const late = (await s.report(1, 1, { success: true, output: "late" })) as { accepted: boolean; reason?: string };
    expect(late).toEqual({ accepted: false, reason: "stale_attempt" });
    expect((await getRun(run.run_id)).execution_log[0]!.output).toEqual(done.execution_log[0]!.output);
    const { n } = (await env.DB.prepare("SELECT count(*) AS n FROM todos WHERE created_by = ?").bind(`${run.run_id}:1`).first<{ n: number }>())!;
    expect(n).toBe(1);
  });

  it("fails the step with lease_expired once attempts run out", async () => {
    const run = await createRun({ prompt: "calculate 1 + 1", options: { step_timeout_ms: 100, retry: { max_attempts: 1 } } });
    await stub(run.run_id).claim(1, 1);
    await sleep(350);
    await watchdog(run.run_id);
    const after = await getRun(run.run_id);
    expect(after.status).toBe("failed");
    expect(after.execution_log[0]).toMatchObject({ status: "failed", attempts: 1, error: { code: "lease_expired" } });
  });
});

describe("an evicted run object", () => {
  it("rebuilds its state from the event log and carries on", async () => {
    const run = await createRun({ prompt: "calculate 20 + 1, then calculate the result * 2" });
    const [first] = await sentMessages(run.run_id);
    await deliver(first!);
    const before = await getRun(run.run_id);
    await evictDurableObject(stub(run.run_id));
    const rebuilt = await getRun(run.run_id);
    expect(rebuilt).toEqual(before);
    const second = (await sentMessages(run.run_id)).find((m) => m.step === 2)!;
    await deliver(second);
    const done = await getRun(run.run_id);
    expect(done.status).toBe("completed");
    expect(done.result).toBe(42);
  });

  it("is a fold of its events: replaying the log gives the same run", async () => {
    const run = await createRun({ prompt: "calculate 2 + 2 and calculate 3 + 3" });
    await deliver(...(await sentMessages(run.run_id)));
    const folded = foldEvents(await events(run.run_id));
    const live = await getRun(run.run_id);
    expect(folded.status).toBe(live.status);
    expect([...folded.steps.values()].map((s) => s.output)).toEqual(live.execution_log.map((s) => s.output));
    expect(folded.last_seq).toBe(live.last_event_seq);
  });
});

describe("cancel", () => {
  it("skips pending and queued steps, ignores a running step's late result, and ends cancelled", async () => {
    const run = await createRun({
      plan: {
        steps: [
          { step_number: 1, tool: "Http.get", input: { url: `${upstream}/ok?k=${uniq()}` } },
          { step_number: 2, tool: "Calculator.evaluate", input: { expression: "2 + 2" } },
          { step_number: 3, tool: "TodoStore.list", input: {}, depends_on: [1, 2] },
        ],
      },
    });
    const s = stub(run.run_id);
    await s.claim(1, 1); // step 1 is running in some consumer
    const res = await api(`/runs/${run.run_id}/cancel`, { method: "POST" });
    expect(res.status).toBe(200);
    const cancelled = (await res.json()) as { status: string; execution_log: { status: string; skip_reason: string | null }[] };
    expect(cancelled.status).toBe("cancelled");
    expect(cancelled.execution_log.map((e) => [e.status, e.skip_reason])).toEqual([
      ["skipped", "cancelled"],
      ["skipped", "cancelled"],
      ["skipped", "cancelled"],
    ]);
    // The running step finishes anyway; its report is ignored. Step 2's message is delivered late.
    expect(((await s.report(1, 1, { success: true, output: { status: 200 } })) as { accepted: boolean }).accepted).toBe(false);
    await deliver({ run_id: run.run_id, tenant: "dev", step: 2, attempt: 1 });
    const after = await getRun(run.run_id);
    expect(after.status).toBe("cancelled");
    expect(after.execution_log.every((e) => e.status === "skipped" && e.output === null)).toBe(true);
    expect((await eventTypes(run.run_id)).filter((t) => t === "step.started")).toHaveLength(1);
  });

  it("answers 409 for a run that already finished", async () => {
    const run = await createRun({ prompt: "calculate 1 + 1" });
    await deliver(...(await sentMessages(run.run_id)));
    const res = await api(`/runs/${run.run_id}/cancel`, { method: "POST" });
    expect(res.status).toBe(409);
    expect((await errorOf(res)).code).toBe("run_finished");
  });
});

describe("resume", () => {
  it("re-runs only the failed and skipped steps; succeeded steps keep their outputs", async () => {
    const key = `/flaky/resume-${uniq()}`;
    const run = await createRun({
      plan: {
        steps: [
          { step_number: 1, tool: "TodoStore.add", input: { title: `resume ${uniq()}` } },
          { step_number: 2, tool: "Http.get", input: { url: `${upstream}${key}?fail=1` }, depends_on: [1] },
          { step_number: 3, tool: "Calculator.evaluate", input: { expression: "{{steps.1.output.todo.id}} * 0 + 7" }, depends_on: [2] },
        ],
      },
      options: { retry: { max_attempts: 1 } },
    });
    await deliver(...(await sentMessages(run.run_id)));
    await deliver(...(await sentMessages(run.run_id)).filter((m) => m.step === 2));
    const failed = await getRun(run.run_id);
    expect(failed.status).toBe("failed");
    expect(failed.execution_log.map((e) => e.status)).toEqual(["succeeded", "failed", "skipped"]);
    const firstOutput = failed.execution_log[0]!.output;

    const res = await api(`/runs/${run.run_id}/resume`, { method: "POST" });
    expect(res.status).toBe(200);
    const resumed = (await res.json()) as { status: string };
    expect(resumed.status).toBe("running");
    const queued = (await events(run.run_id)).filter((e) => e.type === "step.queued" && e.seq > failed.last_event_seq);
    expect(queued.map((e) => (e.data as { step: number }).step)).toEqual([2]);
    await deliver(...(await sentMessages(run.run_id)).slice(-1));
    await deliver(...(await sentMessages(run.run_id)).slice(-1));
    const done = await getRun(run.run_id);
    expect(done.status).toBe("completed");
    expect(done.result).toBe(7);
    expect(done.execution_log[0]!.output).toEqual(firstOutput);
    expect((await events(run.run_id)).filter((e) => e.type === "step.started" && (e.data as { step: number }).step === 1)).toHaveLength(1);
  });

  it("answers 409 for a run that is not failed or cancelled", async () => {
    const run = await createRun({ prompt: "calculate 1 + 1" });
    const res = await api(`/runs/${run.run_id}/resume`, { method: "POST" });
    expect(res.status).toBe(409);
    expect((await errorOf(res)).code).toBe("run_not_resumable");
  });
});

describe("Idempotency-Key", () => {
  it("returns the original run for the same key and body, 409 for a different body", async () => {
    const key = `key-${uniq()}`;
    const first = await api("/runs", { method: "POST", json: { prompt: "calculate 5 + 5" }, headers: { "idempotency-key": key } });
    expect(first.status).toBe(201);
    const run = (await first.json()) as { run_id: string };
    const again = await api("/runs", { method: "POST", json: { prompt: "calculate 5 + 5" }, headers: { "idempotency-key": key } });
    expect(again.status).toBe(200);
    expect(((await again.json()) as { run_id: string }).run_id).toBe(run.run_id);
    const other = await api("/runs", { method: "POST", json: { prompt: "calculate 6 + 6" }, headers: { "idempotency-key": key } });
    expect(other.status).toBe(409);
    expect((await errorOf(other)).code).toBe("idempotency_conflict");
    expect((await sentMessages(run.run_id)).length).toBe(1); // the replay queued nothing
    const { n } = (await env.DB.prepare("SELECT count(*) AS n FROM runs WHERE run_id = ?").bind(run.run_id).first<{ n: number }>())!;
    expect(n).toBe(1);
  });

  it("treats the same body with keys in another order as the same request", async () => {
    const key = `key-${uniq()}`;
    const a = await api("/runs", { method: "POST", body: '{"prompt":"calculate 1+2","options":{"step_timeout_ms":1000}}', headers: { "idempotency-key": key, "content-type": "application/json" } });
    const b = await api("/runs", { method: "POST", body: '{"options":{"step_timeout_ms":1000},"prompt":"calculate 1+2"}', headers: { "idempotency-key": key, "content-type": "application/json" } });
    expect([a.status, b.status]).toEqual([201, 200]);
  });
});

describe("the D1 read model", () => {
  const row = (runId: string) => env.DB.prepare("SELECT status, projected_seq, result FROM runs WHERE run_id = ?").bind(runId).first<{ status: string; projected_seq: number; result: string | null }>();

  it("catches up after a failed projection write", async () => {
    await env.DB.exec("ALTER TABLE runs RENAME TO runs_offline");
    let runId: string;
    try {
      const run = await createRun({ prompt: "calculate 4 + 4" }); // accepted even though D1 is failing
      runId = run.run_id;
      await deliver(...(await sentMessages(runId)));
      expect((await getRun(runId)).status).toBe("completed");
    } finally {
      await env.DB.exec("ALTER TABLE runs_offline RENAME TO runs");
    }
    expect(await row(runId)).toBeNull();
    for (let i = 0; i < 40 && (await row(runId))?.status !== "completed"; i++) {
      await sleep(100);
      await watchdog(runId);
    }
    expect(await row(runId)).toMatchObject({ status: "completed", result: "8" });
    const steps = await env.DB.prepare("SELECT status FROM steps WHERE run_id = ?").bind(runId).all<{ status: string }>();
    expect(steps.results.map((s) => s.status)).toEqual(["succeeded"]);
  });

  it("is idempotent: replaying a projection, or an older one, changes nothing", async () => {
    const run = await createRun({ prompt: "calculate 1 + 2, then calculate 3 + 4" });
    const early = foldEvents(await events(run.run_id));
    await deliver(...(await sentMessages(run.run_id)));
    await deliver(...(await sentMessages(run.run_id)).filter((m) => m.step === 2));
    const final = foldEvents(await events(run.run_id));
    const before = await row(run.run_id);
    expect(before).toMatchObject({ status: "completed", projected_seq: final.last_seq });
    await projectRun(env.DB, final);
    await projectRun(env.DB, early); // a stale write arriving late
    expect(await row(run.run_id)).toEqual(before);
    const steps = await env.DB.prepare("SELECT status, projected_seq FROM steps WHERE run_id = ? ORDER BY step_number").bind(run.run_id).all();
    expect(steps.results).toEqual([
      { status: "succeeded", projected_seq: final.last_seq },
      { status: "succeeded", projected_seq: final.last_seq },
    ]);
  });
});

describe("GET /runs/{id}/events", () => {
  it("pages through the log in order", async () => {
    const run = await createRun({ prompt: "calculate 1 + 1 and calculate 2 + 2" });
    await deliver(...(await sentMessages(run.run_id)));
    const all = (await (await api(`/runs/${run.run_id}/events`)).json()) as { events: { seq: number; type: string }[]; has_more: boolean };
    expect(all.events[0]).toMatchObject({ seq: 1, type: "run.created" });
    expect(all.events.at(-1)!.type).toBe("run.completed");
    expect(all.has_more).toBe(false);
    const page = (await (await api(`/runs/${run.run_id}/events?after=2&limit=3`)).json()) as { events: { seq: number }[]; next_after: number; has_more: boolean };
    expect(page.events.map((e) => e.seq)).toEqual([3, 4, 5]);
    expect(page).toMatchObject({ next_after: 5, has_more: true });
  });
});

describe("Wait.sleep", () => {
  it("is a durable timer: it holds no consumer and survives an evicted object", async () => {
    const run = await createRun({ prompt: "wait 1 second then calculate 40 + 2" });
    expect(await sentMessages(run.run_id)).toEqual([]); // nothing went to the queue for the timer
    expect((await getRun(run.run_id)).execution_log[0]!.status).toBe("running");
    await evictDurableObject(stub(run.run_id));
    await sleep(1050);
    await watchdog(run.run_id);
    const afterSleep = await getRun(run.run_id);
    expect(afterSleep.execution_log[0]).toMatchObject({ status: "succeeded", output: { slept_seconds: 1 } });
    await deliver(...(await sentMessages(run.run_id)));
    expect((await getRun(run.run_id)).result).toBe(42);
  });
});
