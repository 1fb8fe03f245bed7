import { z } from "zod";
import { calculator } from "./calculator/calculator";
import { httpGet } from "./http-get/http-get";
import { humanApprove } from "./human-approve";
import { runCollect, runStart } from "./run-start";
import type { Tool } from "./tool";
import { todoAdd, todoComplete, todoDelete, todoGet, todoList, todoReopen } from "./todo-store";
import { waitSignal } from "./wait-signal";
import { waitSleep } from "./wait-sleep";

const all: Tool[] = [
  calculator,
  todoAdd,
  todoList,
  todoGet,
  todoComplete,
  todoDelete,
  todoReopen,
  httpGet,
  waitSleep,
  waitSignal,
  humanApprove,
  runStart,
  runCollect,
] as Tool[];

export const tools: ReadonlyMap<string, Tool> = new Map(all.map((t) => [t.name, t]));

export function getTool(name: string): Tool | undefined {
  return tools.get(name);
}

export interface ToolDescription {
  name: string;
  description: string;
  input_schema: unknown;
}

/** The catalogue as clients (and later an LLM planner) see it: JSON Schema generated from zod. */
export function describeTools(): ToolDescription[] {
  return all.map((t) => ({
    name: t.name,
    description: t.description,
    input_schema: z.toJSONSchema(t.input_schema, { io: "input", unrepresentable: "any" }),
  }));
}
