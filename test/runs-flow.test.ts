import { describe, expect, inject, it } from "vitest";
import type { ExecutionLogEntry } from "../src/durable/run/run-view";
import { api, createRun, uniq, waitForRun } from "./helpers";

describe("a run end to end", () => {
  it("undoes the todo it added when a later step fails, through the real queue (saga compensation)", async () => {
    const title = `undo me ${uniq()}`;
    const created = await createRun({
      plan: {
        steps: [
          { step_number: 1, tool: "TodoStore.add", input: { title } },
          { step_number: 2, tool: "Http.get", input: { url: `${inject("upstreamUrl")}/status/404` }, depends_on: [1] },
        ],
      },
    });
    const run = await waitForRun(created.run_id);
    expect(run).toMatchObject({
      status: "failed",
      error: { code: "upstream_rejected" },
      compensation: { status: "completed", steps: [{ tool: "TodoStore.delete" }] },
    });
    const added = run.execution_log[0]!.output as { todo: { id: number } };
    const listed = await api("/runs?wait=5", { method: "POST", json: { plan: { steps: [{ step_number: 1, tool: "TodoStore.list", input: {} }] } } });
    const todos = ((await listed.json()) as { result: { todos: { id: number }[] } }).result.todos;
    expect(todos.map((t) => t.id)).not.toContain(added.todo.id);
  });

  it("adds a todo, then lists it (the brief's example)", async () => {
    const created = await createRun({ prompt: "Add a todo to buy milk, then show me all my tasks" });
    expect(["pending", "running"]).toContain(created.status);
    expect(created.plan?.steps.map((s) => s.tool)).toEqual(["TodoStore.add", "TodoStore.list"]);
    expect(created.plan?.steps[1]?.depends_on).toEqual([1]);

    const run = await waitForRun(created.run_id);
    expect(run.status).toBe("completed");
    const added = run.execution_log[0]!.output as { todo: { id: number; title: string } };
    expect(added.todo.title).toBe("buy milk");
    const listed = run.result as { todos: { id: number }[] };
    expect(listed.todos.map((t) => t.id)).toContain(added.todo.id);
  });

  it("calculates and adds the result as a todo", async () => {
    const created = await createRun({ prompt: "calculate (41*7)+13 and add the result as a todo, then show me all my tasks" });
    const run = await waitForRun(created.run_id);
    expect(run.status).toBe("completed");
    expect(run.execution_log[0]!.output).toBe(300);
    // The input shown is what the tool got: its schema makes the number a title (a string).
    expect(run.execution_log[1]!.input).toEqual({ title: "300" });
    expect((run.execution_log[1]!.output as { todo: { title: string } }).todo.title).toBe("300");
    const res = await api(`/runs?limit=5`);
    expect(res.status).toBe(200);
  });
});

const upstream = inject("upstreamUrl");
const overlaps = (a: ExecutionLogEntry, b: ExecutionLogEntry) =>
  Date.parse(a.started_at!) < Date.parse(b.completed_at!) && Date.parse(b.started_at!) < Date.parse(a.completed_at!);

describe("DAG execution", () => {
  it("runs independent steps at the same time", async () => {
    const created = await createRun({
      plan: {
        steps: [
          { step_number: 1, tool: "Http.get", input: { url: `${upstream}/ok?delay_ms=300&k=${uniq()}` } },
          { step_number: 2, tool: "Http.get", input: { url: `${upstream}/ok?delay_ms=300&k=${uniq()}` } },
          { step_number: 3, tool: "Calculator.evaluate", input: { expression: "1 + 1" }, depends_on: [1, 2] },
        ],
      },
    });
    const run = await waitForRun(created.run_id);
    expect(run.status).toBe("completed");
    const [a, b, join] = run.execution_log;
    expect(overlaps(a!, b!)).toBe(true);
    expect(Date.parse(join!.started_at!)).toBeGreaterThanOrEqual(Math.max(Date.parse(a!.completed_at!), Date.parse(b!.completed_at!)));
    expect(run.result).toBe(2);
  });

  it("runs one step at a time with options.max_parallelism = 1", async () => {
    const created = await createRun({
      plan: {
        steps: [1, 2, 3].map((n) => ({ step_number: n, tool: "Http.get", input: { url: `${upstream}/ok?delay_ms=100&k=${uniq()}` } })),
      },
      options: { max_parallelism: 1 },
    });
    const run = await waitForRun(created.run_id);
    expect(run.status).toBe("completed");
    const [a, b, c] = run.execution_log;
    expect(overlaps(a!, b!) || overlaps(b!, c!) || overlaps(a!, c!)).toBe(false);
  });

  it("fails the run when a step fails, skips its dependants, and lets a running branch finish", async () => {
    const created = await createRun({
      plan: {
        steps: [
          { step_number: 1, tool: "Calculator.evaluate", input: { expression: "5/0" } },
          { step_number: 2, tool: "TodoStore.add", input: { title: "{{steps.1.output}}" }, depends_on: [1] },
          { step_number: 3, tool: "Http.get", input: { url: `${upstream}/ok?delay_ms=300&k=${uniq()}` } },
          { step_number: 4, tool: "TodoStore.list", input: {}, depends_on: [2, 3] },
        ],
      },
    });
    const run = await waitForRun(created.run_id);
    expect(run.status).toBe("failed");
    expect(run.error).toMatchObject({ code: "division_by_zero", step_number: 1 });
    expect(run.execution_log.map((s) => s.status)).toEqual(["failed", "skipped", "succeeded", "skipped"]);
    expect(run.execution_log[0]!.attempts).toBe(1); // not retryable: one attempt only
    expect(run.execution_log[1]!.skip_reason).toBe("dependency_failed");
    expect(run.result).toBeNull();
  });

  it("retries a failing upstream with backoff until it is healthy", async () => {
    const key = `/flaky/retry-${uniq()}`;
    const created = await createRun({
      plan: { steps: [{ step_number: 1, tool: "Http.get", input: { url: `${upstream}${key}?fail=2` } }] },
      options: { retry: { max_attempts: 3, initial_delay_ms: 50, max_delay_ms: 200 } },
    });
    const run = await waitForRun(created.run_id);
    expect(run.status).toBe("completed");
    expect(run.execution_log[0]).toMatchObject({ status: "succeeded", attempts: 3 });
    expect(run.result).toMatchObject({ status: 200, body: { ok: true, hit: 3 } });
    const events = (await (await api(`/runs/${run.run_id}/events`)).json()) as { events: { type: string }[] };
    expect(events.events.filter((e) => e.type === "step.retry_scheduled")).toHaveLength(2);
  });

  it("fails with the last error and the attempt count when retries run out", async () => {
    const created = await createRun({
      plan: { steps: [{ step_number: 1, tool: "Http.get", input: { url: `${upstream}/status/503?k=${uniq()}` } }] },
      options: { retry: { max_attempts: 2, initial_delay_ms: 10, max_delay_ms: 20 } },
    });
    const run = await waitForRun(created.run_id);
    expect(run.status).toBe("failed");
    expect(run.execution_log[0]).toMatchObject({ status: "failed", attempts: 2, error: { code: "upstream_error" } });
    expect(run.execution_log[0]!.error!.message).toContain("2 attempts");
  });

  it("times a slow step out with step_timeout and retries it", async () => {
    const created = await createRun({
      plan: { steps: [{ step_number: 1, tool: "Http.get", input: { url: `${upstream}/ok?delay_ms=2000&k=${uniq()}` } }] },
      options: { step_timeout_ms: 150, retry: { max_attempts: 2, initial_delay_ms: 10, max_delay_ms: 10 } },
    });
    const run = await waitForRun(created.run_id);
    expect(run.status).toBe("failed");
    expect(run.execution_log[0]).toMatchObject({ attempts: 2, error: { code: "step_timeout" } });
  });

  it("answers 201 with a Location header and lists the run from D1", async () => {
    const res = await api("/runs", { method: "POST", json: { prompt: "what is 6 * 7" } });
    expect(res.status).toBe(201);
    const run = (await res.json()) as { run_id: string };
    expect(res.headers.get("location")).toBe(`/api/v1/runs/${run.run_id}`);
    await waitForRun(run.run_id);
    const list = (await (await api("/runs?status=completed&limit=100")).json()) as { runs: { run_id: string; result: unknown }[] };
    expect(list.runs.find((r) => r.run_id === run.run_id)?.result).toBe(42);
  });

  it("paginates GET /runs newest first with a stable cursor", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await createRun({ prompt: `calculate ${i} + 1` })).run_id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page = (await (await api(`/runs?limit=2${cursor ? `&cursor=${cursor}` : ""}`)).json()) as {
        runs: { run_id: string; created_at: string }[];
        next_cursor: string | null;
      };
      expect(page.runs.length).toBeLessThanOrEqual(2);
      seen.push(...page.runs.map((r) => r.run_id));
      cursor = page.next_cursor;
      // A run created mid-listing must not shift later pages.
      if (seen.length === 2) await createRun({ prompt: "calculate 9 + 9" });
    } while (cursor);
    expect(new Set(seen).size).toBe(seen.length);
    const mine = seen.filter((id) => ids.includes(id));
    expect(mine).toEqual([...ids].reverse());
  });

  it("filters GET /runs by creation time", async () => {
    const before = new Date(Date.now() - 1000).toISOString();
    const run = await createRun({ prompt: "calculate 3 + 3" });
    const after = (await (await api(`/runs?created_after=${before}&limit=100`)).json()) as { runs: { run_id: string }[] };
    expect(after.runs.map((r) => r.run_id)).toContain(run.run_id);
    const older = (await (await api(`/runs?created_before=${before}&limit=100`)).json()) as { runs: { run_id: string }[] };
    expect(older.runs.map((r) => r.run_id)).not.toContain(run.run_id);
  });

  it("waits out a durable timer (Wait.sleep) before the next step", async () => {
    const created = await createRun({ prompt: "wait 1 second then calculate 2 * 21" });
    expect(created.plan!.steps.map((s) => s.tool)).toEqual(["Wait.sleep", "Calculator.evaluate"]);
    const run = await waitForRun(created.run_id);
    expect(run.status).toBe("completed");
    expect(run.result).toBe(42);
    const [sleep, calc] = run.execution_log;
    expect(Date.parse(sleep!.completed_at!) - Date.parse(sleep!.started_at!)).toBeGreaterThanOrEqual(990);
    expect(Date.parse(calc!.started_at!)).toBeGreaterThanOrEqual(Date.parse(sleep!.completed_at!));
  });
});

describe("a reference that brings the wrong kind of value", () => {
  it("fails the step in the plan's terms: which step's output, what it is, and what the tool needs", async () => {
    // Http.get's body is whatever the server sent, so only the run can find out it is an object.
    const created = await createRun({
      plan: {
        steps: [
          { step_number: 1, tool: "Http.get", input: { url: `${upstream}/ok?k=${uniq()}` } },
          { step_number: 2, tool: "TodoStore.add", input: { title: "{{steps.1.output.body}}" }, depends_on: [1] },
        ],
      },
    });
    const run = await waitForRun(created.run_id);
    expect(run.status).toBe("failed");
    expect(typeof (run.execution_log[0]!.output as { body: unknown }).body).toBe("object");
    const error = run.execution_log[1]!.error!;
    expect(error.code).toBe("invalid_input");
    expect(error.message).toContain("step 1's output.body is an object; TodoStore.add needs a string or number title");
  });
});
