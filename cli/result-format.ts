/**
 * A run's result as a person reads it: a number as a number, text as text, todos as a table,
 * anything else as indented JSON cut after MAX_LINES with a "(N more)" hint. `--json` never comes
 * here: it prints the raw document.
 */
export const MAX_LINES = 12;

interface TodoRow {
  id: unknown;
  title: unknown;
  status?: unknown;
  done?: unknown;
}

const isTodo = (v: unknown): v is TodoRow => typeof v === "object" && v !== null && "id" in v && "title" in v;

/** The todos a result holds: a list of todos, `{ todos: [...] }` (TodoStore.list) or `{ todo }`. */
function todosOf(value: unknown): TodoRow[] | undefined {
  if (Array.isArray(value)) return value.length > 0 && value.every(isTodo) ? value : undefined;
  if (typeof value !== "object" || value === null) return undefined;
  const o = value as Record<string, unknown>;
  if (Array.isArray(o.todos) && o.todos.every(isTodo)) return o.todos;
  if (isTodo(o.todo)) return [o.todo];
  return undefined;
}

const cell = (v: unknown) => (typeof v === "string" ? v : v === undefined || v === null ? "" : JSON.stringify(v));

function table(rows: TodoRow[]): string[] {
  if (rows.length === 0) return ["(no todos)"];
  const cells = rows.map((r) => [cell(r.id), cell(r.status ?? (r.done === true ? "done" : r.done === false ? "open" : "")), cell(r.title)]);
  const head = ["ID", "STATUS", "TITLE"];
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) =>
    c
      .map((x, i) => (i === c.length - 1 ? x : x.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(head), ...cells.map(line)];
}

/** Cuts lines after `max`, saying how many were left out. */
export function truncate(lines: string[], max = MAX_LINES): string[] {
  if (lines.length <= max) return lines;
  return [...lines.slice(0, max), `… (${lines.length - max} more lines; --json shows all)`];
}

/** The result as lines: one line for a scalar, several for a table or an object. */
export function resultLines(value: unknown): string[] {
  if (typeof value === "number" || typeof value === "boolean" || value === null) return [String(value)];
  if (typeof value === "string") return truncate(value.split("\n"));
  const todos = todosOf(value);
  if (todos) return truncate(table(todos));
  return truncate(JSON.stringify(value, null, 2).split("\n"));
}

/** `label: value` on one line when it fits there, else the label and the value's lines indented below. */
export function labelled(label: string, value: unknown): string {
  const lines = resultLines(value);
  return lines.length === 1 ? `${label}: ${lines[0]}` : [`${label}:`, ...lines.map((l) => `  ${l}`)].join("\n");
}
