// What each tool's output looks like, as far as a plan can know before it runs. The rule planner
// reads it to know which steps compute a value ("the result") and which return todos; validatePlan
// reads it to refuse a reference that would hand an object to a field that needs text or a number,
// a step sure to fail. It mirrors the outputs the tools document (src/tools/); a test runs the
// tools and checks their outputs against it, so the two cannot drift apart unnoticed.

/** A value's shape: a scalar kind, an object with known fields, a list, or unknown until it runs. */
export type Shape = "number" | "string" | "unknown" | { object: Readonly<Record<string, Shape>> } | { list: Shape };

export type Kind = "number" | "string" | "unknown" | "object" | "list";

// completed_at is a string or null, which no field of a tool input takes anyway.
const todo: Shape = { object: { id: "number", title: "string", status: "string", created_at: "string", completed_at: "unknown" } };

export const TOOL_OUTPUTS: Readonly<Record<string, Shape>> = {
  "Calculator.evaluate": "number",
  "TodoStore.add": { object: { todo } },
  "TodoStore.get": { object: { todo } },
  "TodoStore.complete": { object: { todo } },
  "TodoStore.reopen": { object: { todo } },
  "TodoStore.delete": { object: { deleted: todo } },
  "TodoStore.list": { object: { todos: { list: todo }, count: "number" } },
  // The body is parsed when the answer is JSON, so it may be text, a number or an object.
  "Http.get": { object: { status: "number", content_type: "string", body: "unknown" } },
  "Wait.sleep": { object: { slept_seconds: "number" } },
  // decided_at is a time; comment may be null.
  "Human.approve": { object: { decision: "string", comment: "unknown", decided_by: "string", decided_at: "string" } },
  // Whatever the signal carried.
  "Wait.signal": "unknown",
  // With wait (the default); without, only { run_id }. The result is whatever the child's was.
  "Run.start": { object: { run_id: "string", status: "string", result: "unknown" } },
  "Run.collect": { list: "unknown" },
  // The answer is text, or JSON when output_schema is set.
  "Agent.run": {
    object: {
      answer: "unknown",
      turns: "number",
      tool_calls: "number",
      usage: { object: { input_tokens: "number", output_tokens: "number", cost_usd: "number" } },
    },
  },
};

/**
 * "The result" of a step, for the tools that compute one: the path to it in their output. A list, a
 * todo write or a wait is never "the result" (the user names those: "the count", "it").
 */
export const RESULT_PATH: Readonly<Record<string, readonly string[]>> = {
  "Calculator.evaluate": [],
  "Http.get": ["body"],
};

export const kindOf = (shape: Shape): Kind => (typeof shape === "string" ? shape : "object" in shape ? "object" : "list");

/**
 * The shape at `path` in a tool's output: "unknown" once the path leaves what is known (an unknown
 * tool, or inside an HTTP body), undefined when a known shape has no such field. A list takes an
 * index, negative ones counting from the end.
 */
export function shapeAt(tool: string, path: readonly string[]): Shape | undefined {
  let shape: Shape | undefined = TOOL_OUTPUTS[tool] ?? "unknown";
  for (const key of path) {
    if (shape === "unknown") return "unknown";
    if (typeof shape === "string") return undefined;
    if ("list" in shape) shape = /^-?\d+$/.test(key) ? shape.list : undefined;
    else shape = Object.hasOwn(shape.object, key) ? shape.object[key] : undefined;
    if (shape === undefined) return undefined;
  }
  return shape;
}

/**
 * A path from `shape` to a field of `kind`, to suggest in an error: one ending in `key` if there is
 * one (an id for an id), else the nearest.
 */
export function pathTo(shape: Shape, kind: "number" | "string", key?: string): string[] | undefined {
  const found: string[][] = [];
  const queue: [Shape, string[]][] = [[shape, []]];
  for (let next = queue.shift(); next; next = queue.shift()) {
    const [s, path] = next;
    if (s === kind) found.push(path);
    if (typeof s === "string") continue;
    if ("list" in s) queue.push([s.list, [...path, "0"]]);
    else for (const [k, child] of Object.entries(s.object)) queue.push([child, [...path, k]]);
  }
  return found.find((p) => p.at(-1) === key) ?? found[0];
}
