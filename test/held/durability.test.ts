import { env } from "cloudflare:workers";
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import type { RunObject } from "../../src/durable/run/run-object";
import { describe, expect, inject, it, vi } from "vitest";
import { MAX_MESSAGE_INPUT_BYTES, stepMessage } from "../../src/execution/step-protocol";
import { rowOf } from "../../src/durable/run/effects/projection";
import { writeRunRow } from "../../src/db/run-rows";
import { foldEvents } from "../../src/durable/run/domain/fold";
import { api, createRun, errorOf, getRun, SETTLE, uniq } from "../helpers";
import { advanceClock, deliver, events, projectedRow, sentMessages, stub, watchdog } from "./harness";

const upstream = inject("upstreamUrl");

describe("leases: the message is the lease", () => {
  it("takes the step back when its lease expires, runs it again, and ignores the late report", async () => {
    const run = await createRun({
      prompt: "add a todo to survive a dead consumer",
      options: { step_timeout_ms: 100, retry: { initial_delay_ms: 0, max_delay_ms: 0 } },
    });
    // Dispatched at once: the step is running, and its lease is the message.
    expect((await getRun(run.run_id)).execution_log[0]!.status).toBe("running");
    const [first] = await sentMessages(run.run_id);
    expect(first).toMatchObject({ v: 2, step: 1, attempt: 1, input: { title: "survive a dead consumer" }, timeout_ms: 100 });
    // The consumer that took it dies without reporting. Past the lease, the watchdog takes it back
    // and dispatches attempt 2 (the retry is due at once).
    await advanceClock(run.run_id, first!.lease_until - Date.now() + 1);
    await watchdog(run.run_id);
    const retry = (await events(run.run_id)).find((e) => e.type === "step.retry_scheduled")!;
    expect(retry.data).toMatchObject({ step: 1, attempt: 1, error: { code: "lease_expired" } });
    const second = (await sentMessages(run.run_id)).find((m) => m.attempt === 2)!;
    expect(second.dispatch).toBeGreaterThan(first!.dispatch);
    await deliver(second);
    const done = await getRun(run.run_id);
    expect(done.status).toBe("completed");
    expect(done.execution_log[0]!.attempts).toBe(2);
    // The first consumer comes back from the dead and reports: acknowledged, ignored.
    const late = await stub(run.run_id).report([{ step: 1, dispatch: first!.dispatch, outcome: { success: true, output: "late" } }]);
    expect(late).toEqual({ results: [{ accepted: false, reason: "stale_dispatch" }], next: [] });
    expect((await getRun(run.run_id)).execution_log[0]!.output).toEqual(done.execution_log[0]!.output);
    const { n } = (await env.DB.prepare("SELECT count(*) AS n FROM todos WHERE created_by = ?").bind(`${run.run_id}:1`).first<{ n: number }>())!;
    expect(n).toBe(1);
  });

  it("fails the step with lease_expired once attempts run out", async () => {
    const run = await createRun({ prompt: "list my todos", options: { step_timeout_ms: 100, retry: { max_attempts: 1 } } });
    const [msg] = await sentMessages(run.run_id);
    await advanceClock(run.run_id, msg!.lease_until - Date.now() + 1);
    await watchdog(run.run_id);
    const after = await getRun(run.run_id);
    expect(after.status).toBe("failed");
    expect(after.execution_log[0]).toMatchObject({ status: "failed", attempts: 1, error: { code: "lease_expired" } });
  });

  it("leaves an input too large for a message out of it; the consumer fetches it from the run object", async () => {
    const big = { title: "x".repeat(MAX_MESSAGE_INPUT_BYTES) };
    const fields = {
      run_id: "run_x",
      tenant: "dev",
      step: 1,
      attempt: 1,
      dispatch: 4,
      tool: "TodoStore.add",
      timeout_ms: 1000,
      lease_until: Date.now() + 60_000,
      trace_id: "t",
    };
    expect(stepMessage(fields, big).input).toBeUndefined();
    expect(stepMessage(fields, { title: "small" }).input).toEqual({ title: "small" });
    // A message without its input, as one for a large input arrives: the consumer asks the run object.
    const title = `fetched ${uniq()}`;
    const run = await createRun({ prompt: `add a todo to ${title}` });
    const [msg] = await sentMessages(run.run_id);
    await deliver({ ...msg!, input: undefined });
    const done = await getRun(run.run_id);
    expect(done.status).toBe("completed");
    expect((done.result as { todo: { title: string } }).todo.title).toBe(title);
  });
});

describe("an evicted run object", () => {
  it("rebuilds its state from the event log and carries on", async () => {
    const run = await createRun({ prompt: `add a todo to rebuild ${uniq()}, then list my todos` });
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
    expect((done.result as { count: number }).count).toBeGreaterThan(0);
  });

  it("is a fold of its events: replaying the log gives the same run", async () => {
    const run = await createRun({ prompt: "list my todos and list my open todos, then calculate 2 + 2" });
    await deliver(...(await sentMessages(run.run_id)));
    const folded = foldEvents(await events(run.run_id));
    const live = await getRun(run.run_id);
    expect(folded.status).toBe(live.status);
    expect([...folded.steps.values()].map((s) => s.output)).toEqual(live.execution_log.map((s) => s.output));
    expect(folded.last_seq).toBe(live.last_event_seq);
  });
});

describe("cancel", () => {
  it("skips what has not ended, ignores a running step's late result, and a late message does nothing", async () => {
    const title = `never added ${uniq()}`;
    const run = await createRun({
      plan: {
        steps: [
          { step_number: 1, tool: "Http.get", input: { url: `${upstream}/ok?k=${uniq()}` } },
          { step_number: 2, tool: "TodoStore.add", input: { title } },
          { step_number: 3, tool: "Calculator.evaluate", input: { expression: "2 + 2" } },
          { step_number: 4, tool: "TodoStore.list", input: {}, depends_on: [1, 2, 3] },
        ],
      },
    });
    const [m1, m2] = await sentMessages(run.run_id);
    // Step 3 ran inline during the create; steps 1 and 2 are dispatched, their messages in the queue.
    expect((await getRun(run.run_id)).execution_log.map((e) => e.status)).toEqual(["running", "running", "succeeded", "pending"]);
    const res = await api(`/runs/${run.run_id}/cancel`, { method: "POST" });
    expect(res.status).toBe(200);
    const cancelled = (await res.json()) as { status: string; execution_log: { status: string; skip_reason: string | null }[] };
    expect(cancelled.status).toBe("cancelled");
    expect(cancelled.execution_log.map((e) => [e.status, e.skip_reason])).toEqual([
      ["skipped", "cancelled"],
      ["skipped", "cancelled"],
      ["succeeded", null],
      ["skipped", "cancelled"],
    ]);
    // Step 1's consumer finishes anyway: its report is ignored. Step 2's message arrives after the
    // cancel: its pre-flight check stops it before the todo is written.
    expect(await stub(run.run_id).report([{ step: 1, dispatch: m1!.dispatch, outcome: { success: true, output: { status: 200 } } }])).toEqual({
      results: [{ accepted: false, reason: "not_running" }],
      next: [],
    });
    await deliver(m2!);
    const after = await getRun(run.run_id);
    expect(after.status).toBe("cancelled");
    expect(after.execution_log.filter((e) => e.status === "skipped").every((e) => e.output === null)).toBe(true);
    const { n } = (await env.DB.prepare("SELECT count(*) AS n FROM todos WHERE title = ?").bind(title).first<{ n: number }>())!;
    expect(n).toBe(0);
  });

  it("answers 409 for a run that already finished", async () => {
    const run = await createRun({ prompt: "calculate 1 + 1" });
    expect(run.status).toBe("completed"); // inline: it ended inside its create
    const res = await api(`/runs/${run.run_id}/cancel`, { method: "POST" });
    expect(res.status).toBe(409);
    expect((await errorOf(res)).code).toBe("run_finished");
  });
});

describe("resume", () => {
  it("re-runs only the failed and skipped steps; succeeded steps keep their outputs (on_failure: stop)", async () => {
    const key = `/flaky/resume-${uniq()}`;
    const run = await createRun({
      plan: {
        steps: [
          { step_number: 1, tool: "TodoStore.add", input: { title: `resume ${uniq()}` } },
          { step_number: 2, tool: "Http.get", input: { url: `${upstream}${key}?fail=1` }, depends_on: [1] },
          { step_number: 3, tool: "Calculator.evaluate", input: { expression: "{{steps.1.output.todo.id}} * 0 + 7" }, depends_on: [2] },
        ],
      },
      options: { retry: { max_attempts: 1 }, on_failure: "stop" },
    });
    await deliver(...(await sentMessages(run.run_id)));
    await deliver(...(await sentMessages(run.run_id)).filter((m) => m.step === 2));
    const failed = await getRun(run.run_id);
    expect(failed.status).toBe("failed");
    expect(failed.compensation).toBeNull();
    expect(failed.execution_log.map((e) => e.status)).toEqual(["succeeded", "failed", "skipped"]);
    const firstOutput = failed.execution_log[0]!.output;

    const res = await api(`/runs/${run.run_id}/resume`, { method: "POST" });
    expect(res.status).toBe(200);
    const resumed = (await res.json()) as { status: string };
    expect(resumed.status).toBe("running");
    const dispatched = (await events(run.run_id)).filter((e) => e.type === "step.started" && e.seq > failed.last_event_seq);
    expect(dispatched.map((e) => (e.data as { step: number }).step)).toEqual([2]);
    await deliver(...(await sentMessages(run.run_id)).slice(-1));
    const done = await getRun(run.run_id);
    expect(done.status).toBe("completed");
    expect(done.result).toBe(7);
    expect(done.execution_log[0]!.output).toEqual(firstOutput);
    expect((await events(run.run_id)).filter((e) => e.type === "step.started" && (e.data as { step: number }).step === 1)).toHaveLength(1);
  });

  it("answers 409 for a run that is not failed or cancelled", async () => {
    const run = await createRun({ prompt: "list my todos" });
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
    expect((await getRun(run.run_id)).last_event_seq).toBe((run as unknown as { last_event_seq: number }).last_event_seq); // the replays appended nothing
    expect(await projectedRow(run.run_id, "completed")).not.toBeNull();
    const { n } = (await env.DB.prepare("SELECT count(*) AS n FROM runs WHERE run_id = ?").bind(run.run_id).first<{ n: number }>())!;
    expect(n).toBe(1);
  });

  it("treats the same body with keys in another order as the same request", async () => {
    const key = `key-${uniq()}`;
    const a = await api("/runs", {
      method: "POST",
      body: '{"prompt":"calculate 1+2","options":{"step_timeout_ms":1000}}',
      headers: { "idempotency-key": key, "content-type": "application/json" },
    });
    const b = await api("/runs", {
      method: "POST",
      body: '{"options":{"step_timeout_ms":1000},"prompt":"calculate 1+2"}',
      headers: { "idempotency-key": key, "content-type": "application/json" },
    });
    expect([a.status, b.status]).toEqual([201, 200]);
  });
});

/** How many times the run object's D1 projection has failed in a row (its bookkeeping). */
const projectionFailures = (runId: string) =>
  runInDurableObject(stub(runId), (_i: RunObject, state) => {
    const row = state.storage.sql.exec<{ value: string }>("SELECT value FROM bookkeeping WHERE id = 1").toArray()[0];
    return row ? (JSON.parse(row.value) as { projection: { failures: number } }).projection.failures : 0;
  });

describe("the D1 read model", () => {
  const row = (runId: string) =>
    env.DB.prepare("SELECT status, projected_seq, result FROM runs WHERE run_id = ?")
      .bind(runId)
      .first<{ status: string; projected_seq: number; result: string | null }>();

  it("catches up after a failed projection write", async () => {
    await env.DB.exec("ALTER TABLE runs RENAME TO runs_offline");
    let runId: string;
    try {
      const run = await createRun({ prompt: "calculate 4 + 4" }); // accepted even though D1 is failing
      runId = run.run_id;
      expect(run.status).toBe("completed");
      // The projection is written after the answer: wait until the object has seen it fail.
      await vi.waitFor(async () => expect(await projectionFailures(runId)).toBeGreaterThan(0), SETTLE);
    } finally {
      await env.DB.exec("ALTER TABLE runs_offline RENAME TO runs");
    }
    expect(await row(runId)).toBeNull();
    // The watchdog writes the projection that failed.
    await watchdog(runId);
    expect(await row(runId)).toMatchObject({ status: "completed", result: "8" });
    const stepsJson = await env.DB.prepare("SELECT steps FROM runs WHERE run_id = ?").bind(runId).first<{ steps: string }>();
    expect((JSON.parse(stepsJson!.steps) as { status: string }[]).map((s) => s.status)).toEqual(["succeeded"]);
  });

  it("is idempotent: replaying a projection, or an older one, changes nothing", async () => {
    const run = await createRun({ prompt: "list my todos, then calculate 3 + 4" });
    const early = foldEvents(await events(run.run_id));
    await deliver(...(await sentMessages(run.run_id)));
    const final = foldEvents(await events(run.run_id));
    expect(final.status).toBe("completed");
    expect(await projectedRow(run.run_id, "completed")).not.toBeNull();
    const before = await row(run.run_id);
    expect(before).toMatchObject({ status: "completed", projected_seq: final.last_seq });
    await writeRunRow(env.DB, rowOf(final));
    await writeRunRow(env.DB, rowOf(early)); // a stale write arriving late
    expect(await row(run.run_id)).toEqual(before);
    const stepsJson = await env.DB.prepare("SELECT steps FROM runs WHERE run_id = ?").bind(run.run_id).first<{ steps: string }>();
    expect((JSON.parse(stepsJson!.steps) as { status: string }[]).map((s) => s.status)).toEqual(["succeeded", "succeeded"]);
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
    const page = (await (await api(`/runs/${run.run_id}/events?after=2&limit=3`)).json()) as {
      events: { seq: number }[];
      next_after: number;
      has_more: boolean;
    };
    expect(page.events.map((e) => e.seq)).toEqual([3, 4, 5]);
    expect(page).toMatchObject({ next_after: 5, has_more: true });
  });
});

describe("Wait.sleep", () => {
  it("is a durable timer: it holds no consumer and survives an evicted object", async () => {
    const run = await createRun({ prompt: "wait 30 seconds then calculate 40 + 2" });
    expect(await sentMessages(run.run_id)).toEqual([]); // nothing went to the queue for the timer
    expect((await getRun(run.run_id)).execution_log[0]!.status).toBe("running");
    await evictDurableObject(stub(run.run_id));
    await advanceClock(run.run_id, 29_000);
    await watchdog(run.run_id);
    expect((await getRun(run.run_id)).execution_log[0]!.status).toBe("running"); // not yet
    await advanceClock(run.run_id, 30_001);
    await watchdog(run.run_id);
    const done = await getRun(run.run_id);
    expect(done.execution_log[0]).toMatchObject({ status: "succeeded", output: { slept_seconds: 30 } });
    // The calculation that depended on it ran inline in the same turn.
    expect(done.result).toBe(42);
  });
});
