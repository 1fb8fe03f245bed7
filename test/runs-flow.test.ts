import { describe, expect, it } from "vitest";
import { api, createRun, waitForRun } from "./helpers";

describe("a run end to end", () => {
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
    expect(run.execution_log[1]!.input).toEqual({ title: 300 });
    expect((run.execution_log[1]!.output as { todo: { title: string } }).todo.title).toBe("300");
    const res = await api(`/runs?limit=5`);
    expect(res.status).toBe(200);
  });
});
