/**
 * `{{steps.N.output}}` and `{{steps.N.output.a.b.0}}` in a step's input refer to an earlier
 * step's output (`{{steps.N.output.todos.-1}}`: the last item of a list). A string that is
 * exactly one reference takes the referenced value with its type; a reference inside a longer
 * string is interpolated as text.
 */
const REFERENCE = /\{\{\s*steps\.(\d+)\.output((?:\.[A-Za-z0-9_-]+)*)\s*\}\}/g;
const WHOLE_REFERENCE = /^\{\{\s*steps\.(\d+)\.output((?:\.[A-Za-z0-9_-]+)*)\s*\}\}$/;

export interface Reference {
  step_number: number;
  path: string[];
  /** Where in the input the reference stands. */
  at: (string | number)[];
}

function walk(value: unknown, at: (string | number)[], visit: (s: string, at: (string | number)[]) => void): void {
  if (typeof value === "string") visit(value, at);
  else if (Array.isArray(value)) value.forEach((v, i) => walk(v, [...at, i], visit));
  else if (value && typeof value === "object") for (const [k, v] of Object.entries(value)) walk(v, [...at, k], visit);
}

/**
 * The part of a step's input whose references are the step's own. A Run.start step's nested
 * `plan` belongs to the child run: its references name the child's steps, resolved there.
 */
export function ownInput(tool: string, input: Record<string, unknown>): Record<string, unknown> {
  if (tool !== "Run.start" || !("plan" in input)) return input;
  const { plan: _child, ...own } = input;
  return own;
}

/** Resolves a step's input (leaving a child's nested plan as written). */
export function resolveStepInput(tool: string, input: Record<string, unknown>, outputs: ReadonlyMap<number, unknown>): unknown {
  const own = ownInput(tool, input);
  const resolved = resolveReferences(own, outputs) as Record<string, unknown>;
  return own === input ? resolved : { ...resolved, plan: input.plan };
}

export function findReferences(input: unknown): Reference[] {
  const refs: Reference[] = [];
  walk(input, [], (s, at) => {
    for (const m of s.matchAll(REFERENCE)) {
      refs.push({ step_number: Number(m[1]), path: m[2] ? m[2].slice(1).split(".") : [], at });
    }
  });
  return refs;
}

export function isWholeReference(value: unknown): boolean {
  return typeof value === "string" && WHOLE_REFERENCE.test(value);
}

export class UnresolvedReferenceError extends Error {
  override name = "UnresolvedReferenceError";
}

const items = (n: number) => (n === 0 ? "no items" : n === 1 ? "1 item" : `${n} items`);

/**
 * Follows `path` into a step's output. In a list a key is an index, and a negative one counts from
 * the end ("todos.-1" is the last todo), so a plan can act on "the last one" of a list it made.
 */
function lookup(outputs: ReadonlyMap<number, unknown>, stepNumber: number, path: string[]): unknown {
  if (!outputs.has(stepNumber)) throw new UnresolvedReferenceError(`Step ${stepNumber} has no output yet.`);
  let value = outputs.get(stepNumber);
  for (const [depth, key] of path.entries()) {
    if (Array.isArray(value) && /^-?\d+$/.test(key)) {
      const index = Number(key) < 0 ? value.length + Number(key) : Number(key);
      if (index < 0 || index >= value.length) {
        const list = ["output", ...path.slice(0, depth)].join(".");
        throw new UnresolvedReferenceError(`Step ${stepNumber}'s output has no "${path.join(".")}": ${list} has ${items(value.length)}.`);
      }
      value = value[index];
      continue;
    }
    if (value === null || typeof value !== "object" || !Object.hasOwn(value, key)) {
      throw new UnresolvedReferenceError(`Step ${stepNumber}'s output has no "${path.join(".")}".`);
    }
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

/** Replaces every reference in `input` with the referenced output. */
export function resolveReferences(input: unknown, outputs: ReadonlyMap<number, unknown>): unknown {
  if (typeof input === "string") {
    const whole = WHOLE_REFERENCE.exec(input);
    if (whole) return lookup(outputs, Number(whole[1]), whole[2] ? whole[2].slice(1).split(".") : []);
    return input.replace(REFERENCE, (_m, n: string, path: string) => {
      const v = lookup(outputs, Number(n), path ? path.slice(1).split(".") : []);
      return typeof v === "string" ? v : JSON.stringify(v);
    });
  }
  if (Array.isArray(input)) return input.map((v) => resolveReferences(v, outputs));
  if (input && typeof input === "object") {
    return Object.fromEntries(Object.entries(input).map(([k, v]) => [k, resolveReferences(v, outputs)]));
  }
  return input;
}

/** The reference that makes up the whole value at `at` in a planned input, if one does. */
export function wholeReferenceAt(input: unknown, at: readonly PropertyKey[]): Reference | undefined {
  let value = input;
  for (const key of at) {
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  const whole = typeof value === "string" ? WHOLE_REFERENCE.exec(value) : null;
  return whole
    ? { step_number: Number(whole[1]), path: whole[2] ? whole[2].slice(1).split(".") : [], at: at.map((k) => (typeof k === "number" ? k : String(k))) }
    : undefined;
}

/** The kinds a validator wanted: one for a plain type, each branch's for a union ("string or number"). */
function expectedKinds(issue: { expected?: unknown; errors?: unknown }): string[] {
  if (typeof issue.expected === "string") return [issue.expected];
  if (!Array.isArray(issue.errors)) return [];
  const kinds = (issue.errors as { expected?: unknown }[][]).flatMap((branch) => branch.flatMap((i) => (typeof i.expected === "string" ? [i.expected] : [])));
  return [...new Set(kinds)];
}

const kindOf = (v: unknown) => (Array.isArray(v) ? "a list" : v === null ? "null" : typeof v === "object" ? "an object" : `a ${typeof v}`);

/**
 * Why a resolved input does not fit its tool, said in the plan's terms when a reference brought
 * the wrong kind of value: "step 2's output is an object; TodoStore.add needs a string title".
 * Undefined when the field was not a reference (the validator's own message is then the clearest).
 */
export function referenceMismatch(
  tool: string,
  planned: unknown,
  resolved: unknown,
  issue: { path: readonly PropertyKey[]; expected?: unknown; errors?: unknown },
): string | undefined {
  const ref = wholeReferenceAt(planned, issue.path);
  if (!ref) return undefined;
  let value = resolved;
  for (const key of issue.path) value = value !== null && typeof value === "object" ? (value as Record<PropertyKey, unknown>)[key] : undefined;
  const field = issue.path.length ? String(issue.path.at(-1)) : "input";
  const expected = expectedKinds(issue);
  const wanted = expected.length ? `a ${expected.join(" or ")} ${field}` : `another ${field}`;
  return `step ${ref.step_number}'s ${["output", ...ref.path].join(".")} is ${kindOf(value)}; ${tool} needs ${wanted}`;
}
