/**
 * `{{steps.N.output}}` and `{{steps.N.output.a.b.0}}` in a step's input refer to an earlier
 * step's output. A string that is exactly one reference takes the referenced value with its type;
 * a reference inside a longer string is interpolated as text.
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

function lookup(outputs: ReadonlyMap<number, unknown>, stepNumber: number, path: string[]): unknown {
  if (!outputs.has(stepNumber)) throw new UnresolvedReferenceError(`Step ${stepNumber} has no output yet.`);
  let value = outputs.get(stepNumber);
  for (const key of path) {
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
