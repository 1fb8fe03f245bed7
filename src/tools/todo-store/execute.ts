// TodoStore.*, persisted in D1. Every write is keyed by the step's idempotency key, so an
// attempt that re-runs after a crash finds what its earlier attempt did instead of doing it twice.
// Run by the queue consumer only; the specs (spec.ts) are what the planner and the run's domain import.
import { and, asc, eq, isNull, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { todos, type TodoRow } from "../../db/schema";
import { stepError } from "../../execution/step-error";
import { fail, ok } from "../tool";
import { implement, type ToolContext } from "../tool-impl";
import { normalizeTitle, todoAdd, todoComplete, todoDelete, todoGet, todoList, todoReopen } from "./spec";
import { dbFor } from "../../db/shards";

export interface Todo {
  id: number;
  title: string;
  status: "open" | "done";
  created_at: string;
  completed_at: string | null;
}

const view = (row: TodoRow): Todo => ({
  id: row.id,
  title: row.title,
  status: row.status,
  created_at: row.created_at,
  completed_at: row.completed_at,
});

// The tenant's own read-model shard holds its todos.
const db = (ctx: ToolContext) => drizzle(dbFor(ctx.env, ctx.tenant));
const notDeleted = isNull(todos.deleted_at);
// Every query is scoped to the run's tenant: one tenant never sees or touches another's todos.
const mine = (ctx: ToolContext) => eq(todos.tenant, ctx.tenant);

async function findTodo(ctx: ToolContext, selector: { id?: number | undefined; title?: string | undefined }) {
  if (selector.id !== undefined) {
    const row = await db(ctx)
      .select()
      .from(todos)
      .where(and(mine(ctx), eq(todos.id, selector.id)))
      .get();
    return row ? { row } : { error: stepError("todo_not_found", `No todo has id ${selector.id}.`) };
  }
  const title = normalizeTitle(selector.title ?? "");
  const rows = await db(ctx)
    .select()
    .from(todos)
    .where(and(mine(ctx), notDeleted, sql`lower(${todos.title}) = lower(${title})`))
    .orderBy(asc(todos.id))
    .all();
  if (rows.length === 0) return { error: stepError("todo_not_found", `No todo is titled "${title}".`) };
  const open = rows.filter((r) => r.status === "open");
  if (rows.length > 1 && open.length !== 1) {
    return {
      error: stepError("ambiguous_title", `${rows.length} todos are titled "${title}" (ids ${rows.map((r) => r.id).join(", ")}); name one by id.`),
    };
  }
  return { row: open[0] ?? rows[0]! };
}

export const todoAddImpl = implement(todoAdd, {
  async execute({ title }, ctx) {
    const now = new Date().toISOString();
    // INSERT OR IGNORE on the unique created_by key: a repeated attempt adds nothing.
    await db(ctx)
      .insert(todos)
      .values({ tenant: ctx.tenant, title, status: "open", created_at: now, created_by: ctx.idempotency_key })
      .onConflictDoNothing({ target: todos.created_by })
      .run();
    const row = await db(ctx)
      .select()
      .from(todos)
      .where(and(mine(ctx), eq(todos.created_by, ctx.idempotency_key)))
      .get();
    if (!row) return fail(stepError("todo_write_lost", "The new todo could not be read back; try again."));
    return ok({ todo: view(row) });
  },
});

export const todoListImpl = implement(todoList, {
  async execute({ status }, ctx) {
    const where = status === "all" ? and(mine(ctx), notDeleted) : and(mine(ctx), notDeleted, eq(todos.status, status));
    const rows = await db(ctx).select().from(todos).where(where).orderBy(asc(todos.id)).all();
    return ok({ todos: rows.map(view), count: rows.length });
  },
});

export const todoGetImpl = implement(todoGet, {
  async execute({ id }, ctx) {
    const found = await findTodo(ctx, { id });
    if (found.error) return fail(found.error);
    if (found.row.deleted_at) return fail(stepError("todo_not_found", `Todo ${id} was deleted.`));
    return ok({ todo: view(found.row) });
  },
});

export const todoCompleteImpl = implement(todoComplete, {
  async execute(selector, ctx) {
    // Done by this very step in an earlier attempt: that is success, not a conflict.
    const replay = await db(ctx)
      .select()
      .from(todos)
      .where(and(mine(ctx), eq(todos.completed_by, ctx.idempotency_key)))
      .get();
    if (replay) return ok({ todo: view(replay) });
    const found = await findTodo(ctx, selector);
    if (found.error) return fail(found.error);
    const { row } = found;
    if (row.deleted_at) return fail(stepError("todo_not_found", `Todo ${row.id} was deleted.`));
    if (row.status === "done") {
      return fail(stepError("already_completed", `Todo ${row.id} ("${row.title}") is already completed.`));
    }
    const now = new Date().toISOString();
    const updated = await db(ctx)
      .update(todos)
      .set({ status: "done", completed_at: now, completed_by: ctx.idempotency_key })
      .where(and(mine(ctx), eq(todos.id, row.id), eq(todos.status, "open")))
      .returning()
      .get();
    if (!updated) return fail(stepError("already_completed", `Todo ${row.id} was completed by someone else meanwhile.`));
    return ok({ todo: view(updated) });
  },
});

export const todoDeleteImpl = implement(todoDelete, {
  async execute(selector, ctx) {
    const replay = await db(ctx)
      .select()
      .from(todos)
      .where(and(mine(ctx), eq(todos.deleted_by, ctx.idempotency_key)))
      .get();
    if (replay) return ok({ deleted: view(replay) });
    const found = await findTodo(ctx, selector);
    if (found.error) return fail(found.error);
    const { row } = found;
    if (row.deleted_at) return fail(stepError("todo_not_found", `Todo ${row.id} was already deleted.`));
    // Soft delete, so a repeated attempt can tell its own earlier delete from someone else's.
    const now = new Date().toISOString();
    const deleted = await db(ctx)
      .update(todos)
      .set({ deleted_at: now, deleted_by: ctx.idempotency_key })
      .where(and(mine(ctx), eq(todos.id, row.id), notDeleted))
      .returning()
      .get();
    if (!deleted) return fail(stepError("todo_not_found", `Todo ${row.id} was deleted by someone else meanwhile.`));
    return ok({ deleted: view(deleted) });
  },
});

export const todoReopenImpl = implement(todoReopen, {
  async execute(selector, ctx) {
    const found = await findTodo(ctx, selector);
    if (found.error) return fail(found.error);
    const { row } = found;
    if (row.deleted_at) return fail(stepError("todo_not_found", `Todo ${row.id} was deleted.`));
    // Open already (a repeated attempt, or nobody completed it): the wanted state holds.
    if (row.status === "open") return ok({ todo: view(row) });
    // completed_by is cleared too, so the step that completed it completes it again if it runs again.
    const reopened = await db(ctx)
      .update(todos)
      .set({ status: "open", completed_at: null, completed_by: null })
      .where(and(mine(ctx), eq(todos.id, row.id), eq(todos.status, "done")))
      .returning()
      .get();
    return ok({ todo: view(reopened ?? { ...row, status: "open", completed_at: null }) });
  },
});
