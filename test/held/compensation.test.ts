// Saga compensation in workerd, against real todos in D1 and the Worker's real queue handler (the
// test plays the queue): a failing run undoes what it did, exactly once, across duplicate
// deliveries, retries, an evicted object and a lost message; cancel with compensate; resume after.
import { env } from "cloudflare:workers";
import { evictDurableObject } from "cloudflare:test";
import { describe, expect, inject, it } from "vitest";
import { todoDeleteImpl } from "../../src/tools/todo-store/execute";
import { api, createRun, errorOf, getRun, uniq } from "../helpers";
import { advanceClock, deliver, events, eventTypes, executions, projectedRow, sentMessages, watchdog } from "./harness";

const upstream = inject("upstreamUrl");

interface TodoRow {
  id: number;
  title: string;
  status: string;
  deleted_at: string | null;
  deleted_by: string | null;
  created_by: string | null;
}
const todoByTitle = (title: string) => env.DB.prepare("SELECT * FROM todos WHERE title = ? ORDER BY id").bind(title).all<TodoRow>();

/** Step 1 adds a todo; step 2 fetches something that answers 404 (not retryable), so the run fails. */
const addThenFail = (title: string, more: Record<string, unknown> = {}) => ({
  plan: {
    steps: [
      { step_number: 1, tool: "TodoStore.add", input: { title }, ...more },
      { step_number: 2, tool: "Http.get", input: { url: `${upstream}/status/404` }, depends_on: [1] },
    ],
  },
  options: { retry: { max_attempts: 2, initial_delay_ms: 0, max_delay_ms: 0 } },
});

/** Delivers everything the run has sent that has not been delivered yet (by dispatch). */
async function deliverNew(runId: string, done: Set<number>) {
  const fresh = (await sentMessages(runId)).filter((m) => !done.has(m.dispatch));
  for (const m of fresh) done.add(m.dispatch);
  if (fresh.length) await deliver(...fresh);
  return fresh;
}

describe("a run that fails after adding a todo", () => {
  it("deletes the todo it added, exactly once, and touches nothing else", async () => {
    const title = `saga ${uniq()}`;
    const bystander = await createRun({ plan: { steps: [{ step_number: 1, tool: "TodoStore.add", input: { title } }] } });
    await deliver(...(await sentMessages(bystander.run_id)));
    const run = await createRun(addThenFail(title));
    const done = new Set<number>();
    await deliverNew(run.run_id, done); // the add
    await deliverNew(run.run_id, done); // the fetch: 404, the run fails and starts undoing
    const undoing = await getRun(run.run_id);
    expect(undoing.status).toBe("compensating");
    expect(undoing.compensation).toMatchObject({
      status: "running",
      reason: "run_failed",
      steps: [{ step_number: 1, tool: "TodoStore.delete", status: "running" }],
    });
    const [undo] = await deliverNew(run.run_id, done);
    expect(undo).toMatchObject({ tool: "TodoStore.delete", idempotency_key: `${run.run_id}:1:undo` });

    const ended = await getRun(run.run_id);
    expect(ended.status).toBe("failed");
    expect(ended.error).toMatchObject({ code: "upstream_rejected", step_number: 2 });
    expect(ended.compensation).toMatchObject({ status: "completed", error: null, steps: [{ step_number: 1, status: "succeeded", attempts: 1 }] });
    const rows = (await todoByTitle(title)).results;
    expect(rows).toHaveLength(2);
    expect(rows.find((r) => r.created_by === `${run.run_id}:1`)).toMatchObject({ deleted_by: `${run.run_id}:1:undo` });
    expect(rows.find((r) => r.created_by === `${bystander.run_id}:1`)).toMatchObject({ deleted_at: null });
    expect(await eventTypes(run.run_id)).toEqual([
      "run.created",
      "plan.accepted",
      "run.started",
      "step.started",
      "step.succeeded",
      "step.started",
      "step.failed",
      "compensation.started",
      "compensation.step_started",
      "step.compensated",
      "compensation.completed",
      "run.failed",
    ]);
    // The read model saw it compensating and then failed.
    expect(await projectedRow(run.run_id, "failed")).not.toBeNull();
  });

  it("undoes once when the undo's message is delivered twice in one batch", async () => {
    const deletes = executions(todoDeleteImpl);
    const title = `saga dup ${uniq()}`;
    const run = await createRun(addThenFail(title));
    const done = new Set<number>();
    await deliverNew(run.run_id, done);
    await deliverNew(run.run_id, done);
    const undo = (await sentMessages(run.run_id)).find((m) => m.tool === "TodoStore.delete")!;
    await deliver(undo, undo);
    const ended = await getRun(run.run_id);
    expect(ended).toMatchObject({ status: "failed", compensation: { status: "completed", steps: [{ attempts: 1 }] } });
    expect((await events(run.run_id)).filter((e) => e.type === "step.compensated")).toHaveLength(1);
    // The undo ran once: the delete's idempotency key would hide a second run from the data.
    expect(deletes(run.run_id)).toBe(1);
    expect((await todoByTitle(title)).results.map((r) => r.deleted_by)).toEqual([`${run.run_id}:1:undo`]);
  });

  it("survives an evicted object and a lost undo message: the lease expires and the undo runs again", async () => {
    const title = `saga lost ${uniq()}`;
    const run = await createRun(addThenFail(title));
    const done = new Set<number>();
    await deliverNew(run.run_id, done);
    await deliverNew(run.run_id, done);
    const lost = (await sentMessages(run.run_id)).find((m) => m.tool === "TodoStore.delete")!;
    done.add(lost.dispatch);
    await evictDurableObject(env.RUNS.getByName(run.run_id));
    expect((await getRun(run.run_id)).status).toBe("compensating");
    await advanceClock(run.run_id, lost.lease_until - Date.now() + 1);
    await watchdog(run.run_id);
    const [retry] = await deliverNew(run.run_id, done);
    expect(retry).toMatchObject({ tool: "TodoStore.delete", attempt: 2, idempotency_key: lost.idempotency_key });
    const ended = await getRun(run.run_id);
    expect(ended).toMatchObject({ status: "failed", compensation: { status: "completed", steps: [{ status: "succeeded", attempts: 2 }] } });
    expect((await todoByTitle(title)).results).toEqual([expect.objectContaining({ deleted_by: `${run.run_id}:1:undo` })]);
  });

  it("retries an undo that fails, and it then succeeds", async () => {
    const key = `/flaky/undo-${uniq()}`;
    const body = addThenFail(`saga retry ${uniq()}`, { compensate: { tool: "Http.get", input: { url: `${upstream}${key}?fail=1` } } });
    const run = await createRun({ ...body, options: { retry: { max_attempts: 2, initial_delay_ms: 60_000, max_delay_ms: 60_000 } } });
    const done = new Set<number>();
    await deliverNew(run.run_id, done);
    await deliverNew(run.run_id, done);
    await deliverNew(run.run_id, done); // the undo's first attempt: 503
    const after = await getRun(run.run_id);
    expect(after.compensation!.steps[0]).toMatchObject({
      status: "pending",
      attempts: 1,
      error: { code: "upstream_error" },
      next_attempt_at: expect.any(String),
    });
    // Its retry is due in a minute: moved there, the watchdog sends it.
    await advanceClock(run.run_id, 61_000);
    await watchdog(run.run_id);
    await deliverNew(run.run_id, done);
    expect(await getRun(run.run_id)).toMatchObject({ status: "failed", compensation: { status: "completed", steps: [{ status: "succeeded", attempts: 2 }] } });
    const hits = (await (await fetch(`${upstream}/hits${key}`)).json()) as { hits: number };
    expect(hits.hits).toBe(2);
  });

  it("ends failed with compensation failed and a clear error when an undo fails for good, without looping", async () => {
    const run = await createRun(addThenFail(`saga bad ${uniq()}`, { compensate: { tool: "Http.get", input: { url: `${upstream}/status/410` } } }));
    const done = new Set<number>();
    for (let i = 0; i < 3; i++) await deliverNew(run.run_id, done);
    const ended = await getRun(run.run_id);
    expect(ended.status).toBe("failed");
    expect(ended.compensation).toMatchObject({
      status: "failed",
      error: { code: "compensation_failed", message: expect.stringContaining("Undoing step 1 (Http.get) failed") },
    });
    await watchdog(run.run_id);
    expect(await sentMessages(run.run_id)).toHaveLength(3);
  });

  it("undoes nothing with on_failure 'stop'", async () => {
    const title = `saga stop ${uniq()}`;
    const body = addThenFail(title);
    const run = await createRun({ ...body, options: { ...body.options, on_failure: "stop" } });
    const done = new Set<number>();
    await deliverNew(run.run_id, done);
    await deliverNew(run.run_id, done);
    expect(await getRun(run.run_id)).toMatchObject({ status: "failed", compensation: null });
    expect((await todoByTitle(title)).results).toEqual([expect.objectContaining({ deleted_at: null })]);
  });

  it("resumed, runs the undone add again under a new key: a new todo, the old one stays deleted", async () => {
    const title = `saga resume ${uniq()}`;
    const run = await createRun({
      plan: {
        steps: [
          { step_number: 1, tool: "TodoStore.add", input: { title } },
          { step_number: 2, tool: "Http.get", input: { url: `${upstream}/flaky/resume-${uniq()}?fail=1&status=404` }, depends_on: [1] },
        ],
      },
      options: { retry: { max_attempts: 1 } },
    });
    const done = new Set<number>();
    for (let i = 0; i < 3; i++) await deliverNew(run.run_id, done);
    expect((await getRun(run.run_id)).compensation?.status).toBe("completed");
    expect((await api(`/runs/${run.run_id}/resume`, { method: "POST" })).status).toBe(200);
    await deliverNew(run.run_id, done);
    await deliverNew(run.run_id, done);
    const resumed = await getRun(run.run_id);
    expect(resumed).toMatchObject({ status: "completed", compensation: null });
    const rows = (await todoByTitle(title)).results;
    expect(rows.map((r) => [r.created_by, r.deleted_by])).toEqual([
      [`${run.run_id}:1`, `${run.run_id}:1:undo`],
      [`${run.run_id}:1:r1`, null],
    ]);
    expect(resumed.execution_log[0]!.output).toMatchObject({ todo: { id: rows[1]!.id } });
  });
});

describe("POST /runs/{id}/cancel with compensate", () => {
  it("undoes what the run did while it waited for approval, then ends cancelled", async () => {
    const title = `saga cancel ${uniq()}`;
    const run = await createRun({
      plan: {
        steps: [
          { step_number: 1, tool: "TodoStore.add", input: { title } },
          { step_number: 2, tool: "Human.approve", input: { message: "keep it?" }, depends_on: [1] },
        ],
      },
    });
    const done = new Set<number>();
    await deliverNew(run.run_id, done);
    expect((await getRun(run.run_id)).status).toBe("waiting");
    const res = await api(`/runs/${run.run_id}/cancel`, { method: "POST", json: { compensate: true, reason: "changed my mind" } });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: "compensating", compensation: { reason: "cancelled" } });
    await deliverNew(run.run_id, done);
    const ended = await getRun(run.run_id);
    expect(ended).toMatchObject({ status: "cancelled", error: { code: "cancelled", message: "changed my mind" }, compensation: { status: "completed" } });
    expect(ended.execution_log.map((s) => s.status)).toEqual(["succeeded", "skipped"]);
    expect((await todoByTitle(title)).results).toEqual([expect.objectContaining({ deleted_by: `${run.run_id}:1:undo` })]);
  });

  it("stops a todo that had not begun when the cancel came, and undoes the one that had finished", async () => {
    const first = `saga first ${uniq()}`;
    const second = `saga second ${uniq()}`;
    const run = await createRun({
      plan: {
        steps: [
          { step_number: 1, tool: "TodoStore.add", input: { title: first } },
          { step_number: 2, tool: "TodoStore.add", input: { title: second }, depends_on: [1] },
        ],
      },
    });
    const done = new Set<number>();
    await deliverNew(run.run_id, done);
    // Step 2's message is on its way; the cancel comes first.
    const inFlight = (await sentMessages(run.run_id)).find((m) => m.step === 2)!;
    done.add(inFlight.dispatch);
    const res = await api(`/runs/${run.run_id}/cancel`, { method: "POST", json: { compensate: true } });
    expect(((await res.json()) as { status: string }).status).toBe("cancelling");
    await deliver(inFlight); // its pre-flight check refuses it, and it is skipped
    await deliverNew(run.run_id, done);
    const ended = await getRun(run.run_id);
    expect(ended).toMatchObject({ status: "cancelled", compensation: { status: "completed", steps: [{ step_number: 1 }] } });
    expect(ended.execution_log.map((s) => [s.status, s.skip_reason])).toEqual([
      ["succeeded", null],
      ["skipped", "cancelled"],
    ]);
    expect((await todoByTitle(second)).results).toEqual([]);
    expect((await todoByTitle(first)).results).toEqual([expect.objectContaining({ deleted_by: `${run.run_id}:1:undo` })]);
  });

  it("refuses a body it does not understand, and a cancel of a run that is compensating", async () => {
    const run = await createRun(addThenFail(`saga 409 ${uniq()}`));
    for (const [init, status, code] of [
      [{ json: { compensate: "yes" } }, 400, "validation_failed"],
      [{ json: { compensate: true, extra: 1 } }, 400, "validation_failed"],
      [{ body: "compensate", headers: { "content-type": "text/plain" } }, 415, "unsupported_media_type"],
      [{ body: "{", headers: { "content-type": "application/json" } }, 400, "invalid_json"],
    ] as const) {
      const res = await api(`/runs/${run.run_id}/cancel`, { method: "POST", ...init });
      expect(res.status).toBe(status);
      expect((await errorOf(res)).code).toBe(code);
    }
    const done = new Set<number>();
    await deliverNew(run.run_id, done);
    await deliverNew(run.run_id, done);
    const res = await api(`/runs/${run.run_id}/cancel`, { method: "POST" });
    expect(res.status).toBe(409);
    expect((await errorOf(res)).code).toBe("run_compensating");
  });
});
