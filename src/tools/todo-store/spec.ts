// TodoStore.* as the planner and the run see them: names, input schemas, which ones change
// things (the consumer's pre-flight) and what undoes them. What they do, in D1, is in execute.ts.
import { z } from "zod";
import { queueTool } from "../tool";

/** Titles are kept as typed, minus surrounding whitespace and trailing punctuation. */
export function normalizeTitle(raw: string): string {
  return raw
    .trim()
    .replace(/[\s.,;:!?]+$/u, "")
    .trim();
}

// A title may arrive from an earlier step's numeric output ("add the result as a todo").
const titleSchema = z
  .union([z.string(), z.number().finite()])
  .transform((v) => normalizeTitle(String(v)))
  .pipe(z.string().min(1, "The title is empty.").max(500, "The title is longer than 500 characters."))
  .describe("The todo's title, 1-500 characters");

const idSchema = z.number().int().positive().describe("The todo's id");

/** A todo picked by id, or by its exact title (case-insensitive) among todos not deleted. */
const selectorSchema = z
  .strictObject({ id: idSchema.optional(), title: z.string().min(1).max(500).optional() })
  .refine((s) => (s.id === undefined) !== (s.title === undefined), { message: "Give exactly one of id or title." });

/** Undoing an add or a complete acts on the todo the step returned. */
const itsTodo = (step: number) => ({ id: `{{steps.${step}.output.todo.id}}` });

export const todoAdd = queueTool({
  name: "TodoStore.add",
  description: "Adds a todo with the given title and returns it as { todo }.",
  input_schema: z.strictObject({ title: titleSchema }),
  effects: true,
  compensation: (step) => ({ tool: "TodoStore.delete", input: itsTodo(step) }),
});

export const todoList = queueTool({
  name: "TodoStore.list",
  description: 'Lists todos, oldest first, as { todos, count }. status: "open", "done" or "all" (default).',
  input_schema: z.strictObject({ status: z.enum(["open", "done", "all"]).default("all") }),
  effects: false,
});

export const todoGet = queueTool({
  name: "TodoStore.get",
  description: "Returns one todo by id as { todo }.",
  input_schema: z.strictObject({ id: idSchema }),
  effects: false,
});

export const todoComplete = queueTool({
  name: "TodoStore.complete",
  description: "Marks a todo done, by id or by exact title, and returns it as { todo }.",
  input_schema: selectorSchema,
  effects: true,
  compensation: (step) => ({ tool: "TodoStore.reopen", input: itsTodo(step) }),
});

export const todoDelete = queueTool({
  name: "TodoStore.delete",
  description: "Deletes a todo, by id or by exact title, and returns it as { deleted }.",
  input_schema: selectorSchema,
  effects: true,
});

export const todoReopen = queueTool({
  name: "TodoStore.reopen",
  description: "Marks a done todo open again, by id or by exact title, and returns it as { todo }. Undoes TodoStore.complete.",
  input_schema: selectorSchema,
  effects: true,
});
