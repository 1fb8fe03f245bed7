// The rows the rule planner's table tests expect: one step each, by tool, with its input and
// dependencies. Shared by the phrasing tables and the title tables, so both read one vocabulary.

export interface Expected {
  tool: string;
  input: Record<string, unknown>;
  depends_on: number[];
}

/** A reference to step `step`'s output (or a path inside it). */
export const R = (step: number, path = "") => `{{steps.${step}.output${path}}}`;
export const calc = (expression: string, depends_on: number[] = []): Expected => ({ tool: "Calculator.evaluate", input: { expression }, depends_on });
export const add = (title: unknown, depends_on: number[] = []): Expected => ({ tool: "TodoStore.add", input: { title }, depends_on });
export const complete = (input: Record<string, unknown>, depends_on: number[] = []): Expected => ({ tool: "TodoStore.complete", input, depends_on });
export const remove = (input: Record<string, unknown>, depends_on: number[] = []): Expected => ({ tool: "TodoStore.delete", input, depends_on });
export const sleep = (seconds: number, depends_on: number[] = []): Expected => ({ tool: "Wait.sleep", input: { seconds }, depends_on });
/** The approval the planner asks for before the clauses it guards. */
export const approve = (guards: string, depends_on: number[] = []): Expected => ({
  tool: "Human.approve",
  input: { message: `Go ahead with "${guards}"?` },
  depends_on,
});
