import { describe, expect, it } from "vitest";
import { todoAddImpl, todoCompleteImpl, todoDeleteImpl, todoGetImpl, todoListImpl, todoReopenImpl } from "../src/tools/todo-store/execute";
import { toolContext } from "./helpers";
import { shardDb } from "./read-model";

const ctx = (key = crypto.randomUUID(), tenant = "todo-tests") => toolContext({ idempotency_key: key, tenant });

interface TodoOut {
  todo: { id: number; title: string; status: string; completed_at: string | null };
}

async function add(title: unknown, key?: string) {
  const input = todoAddImpl.input_schema.parse({ title });
  const r = await todoAddImpl.execute(input, ctx(key));
  expect(r.success).toBe(true);
  return (r.output as TodoOut).todo;
}

describe("TodoStore", () => {
  it("adds a todo, keeping the title as typed minus trailing punctuation", async () => {
    const todo = await add("  Buy Milk & eggs!!  ");
    expect(todo).toMatchObject({ title: "Buy Milk & eggs", status: "open", completed_at: null });
    const row = await shardDb("todo-tests").prepare("SELECT title FROM todos WHERE id = ?").bind(todo.id).first<{ title: string }>();
    expect(row?.title).toBe("Buy Milk & eggs");
  });

  it("accepts a number as a title (an earlier step's result)", async () => {
    expect((await add(300)).title).toBe("300");
  });

  it("rejects empty and over-long titles", () => {
    expect(todoAddImpl.input_schema.safeParse({ title: "  ...  " }).success).toBe(false);
    expect(todoAddImpl.input_schema.safeParse({ title: "" }).success).toBe(false);
    expect(todoAddImpl.input_schema.safeParse({ title: "x".repeat(501) }).success).toBe(false);
    expect(todoAddImpl.input_schema.safeParse({ title: "x".repeat(500) }).success).toBe(true);
  });

  it("adds once per idempotency key, however often the step re-runs", async () => {
    const key = `run_x:${crypto.randomUUID()}`;
    const first = await add("only once", key);
    const again = await add("only once", key);
    expect(again.id).toBe(first.id);
    const { n } = (await shardDb("todo-tests").prepare("SELECT count(*) AS n FROM todos WHERE created_by = ?").bind(key).first<{ n: number }>())!;
    expect(n).toBe(1);
  });

  it("lists todos by status", async () => {
    const a = await add("list-a");
    const b = await add("list-b");
    await todoCompleteImpl.execute({ id: b.id }, ctx());
    const list = async (status: "open" | "done" | "all") =>
      (await todoListImpl.execute({ status }, ctx())).output as { todos: { id: number }[]; count: number };
    expect((await list("open")).todos.map((t) => t.id)).toContain(a.id);
    expect((await list("open")).todos.map((t) => t.id)).not.toContain(b.id);
    expect((await list("done")).todos.map((t) => t.id)).toContain(b.id);
    const all = await list("all");
    expect(all.todos.map((t) => t.id)).toEqual(expect.arrayContaining([a.id, b.id]));
    expect(all.count).toBe(all.todos.length);
  });

  it("gets a todo by id, and says when there is none", async () => {
    const t = await add("get me");
    expect(((await todoGetImpl.execute({ id: t.id }, ctx())).output as TodoOut).todo.title).toBe("get me");
    expect((await todoGetImpl.execute({ id: 999_999 }, ctx())).error).toMatchObject({ code: "todo_not_found", retryable: false });
  });

  it("completes by id or title; a second completion is an error, a repeated step is not", async () => {
    const t = await add("complete me");
    const key = crypto.randomUUID();
    const done = await todoCompleteImpl.execute(todoCompleteImpl.input_schema.parse({ title: "Complete Me" }), ctx(key));
    expect((done.output as TodoOut).todo).toMatchObject({ id: t.id, status: "done" });
    const replay = await todoCompleteImpl.execute({ id: t.id }, ctx(key));
    expect(replay.success).toBe(true);
    const again = await todoCompleteImpl.execute({ id: t.id }, ctx());
    expect(again.error?.code).toBe("already_completed");
    expect((await todoCompleteImpl.execute({ id: 999_999 }, ctx())).error?.code).toBe("todo_not_found");
  });

  it("needs exactly one of id or title to pick a todo", () => {
    expect(todoCompleteImpl.input_schema.safeParse({}).success).toBe(false);
    expect(todoCompleteImpl.input_schema.safeParse({ id: 1, title: "x" }).success).toBe(false);
    expect(todoDeleteImpl.input_schema.safeParse({ id: -1 }).success).toBe(false);
  });

  it("refuses an ambiguous title", async () => {
    const title = `twin ${crypto.randomUUID()}`;
    await add(title);
    await add(title);
    expect((await todoCompleteImpl.execute({ title }, ctx())).error?.code).toBe("ambiguous_title");
  });

  it("deletes by id or title, idempotently per step", async () => {
    const t = await add("delete me");
    const key = crypto.randomUUID();
    const del = await todoDeleteImpl.execute({ title: "delete me" }, ctx(key));
    expect((del.output as { deleted: { id: number } }).deleted.id).toBe(t.id);
    expect((await todoDeleteImpl.execute({ title: "delete me" }, ctx(key))).success).toBe(true);
    expect((await todoDeleteImpl.execute({ id: t.id }, ctx())).error?.code).toBe("todo_not_found");
    expect((await todoGetImpl.execute({ id: t.id }, ctx())).error?.code).toBe("todo_not_found");
    const all = (await todoListImpl.execute({ status: "all" }, ctx())).output as { todos: { id: number }[] };
    expect(all.todos.map((x) => x.id)).not.toContain(t.id);
  });

  it("keeps each tenant's todos apart: another tenant can neither see nor change them", async () => {
    const title = `private ${crypto.randomUUID()}`;
    const mine = await add(title);
    const other = (key = crypto.randomUUID()) => ctx(key, "someone-else");
    const theirs = (await todoListImpl.execute({ status: "all" }, other())).output as { todos: { id: number }[] };
    expect(theirs.todos.map((x) => x.id)).not.toContain(mine.id);
    expect((await todoGetImpl.execute({ id: mine.id }, other())).error?.code).toBe("todo_not_found");
    expect((await todoCompleteImpl.execute({ title }, other())).error?.code).toBe("todo_not_found");
    expect((await todoDeleteImpl.execute({ id: mine.id }, other())).error?.code).toBe("todo_not_found");
    // A todo of the same title in the other tenant does not make the first one ambiguous.
    const r = await todoAddImpl.execute(todoAddImpl.input_schema.parse({ title }), other());
    expect(r.success).toBe(true);
    const done = await todoCompleteImpl.execute({ title }, ctx());
    expect((done.output as TodoOut).todo.id).toBe(mine.id);
    expect((await todoGetImpl.execute({ id: mine.id }, ctx())).output).toMatchObject({ todo: { status: "done" } });
  });

  it("reopens a done todo (TodoStore.complete's undo), and the step that completed it can complete it again", async () => {
    const t = await add(`reopen ${crypto.randomUUID()}`);
    const key = crypto.randomUUID();
    expect((await todoCompleteImpl.execute({ id: t.id }, ctx(key))).success).toBe(true);
    const reopened = await todoReopenImpl.execute({ id: t.id }, ctx());
    expect(reopened.output).toMatchObject({ todo: { id: t.id, status: "open", completed_at: null } });
    // Reopening an open todo is no error: the wanted state holds (a repeated undo).
    expect((await todoReopenImpl.execute({ id: t.id }, ctx())).output).toMatchObject({ todo: { status: "open" } });
    // The completing step's key no longer names an effect that stands, so it completes again.
    expect((await todoCompleteImpl.execute({ id: t.id }, ctx(key))).output).toMatchObject({ todo: { status: "done" } });
    await todoDeleteImpl.execute({ id: t.id }, ctx());
    expect((await todoReopenImpl.execute({ id: t.id }, ctx())).error?.code).toBe("todo_not_found");
    expect((await todoReopenImpl.execute({ id: t.id }, ctx(undefined, "someone-else"))).error?.code).toBe("todo_not_found");
  });
});
