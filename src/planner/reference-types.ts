// A whole reference ("{{steps.2.output}}") hands the referenced value to a field as it is. When
// that value is known to be an object or a list (tool-outputs.ts) and the field takes only text or
// numbers, the step is sure to fail once it runs; the plan is refused now instead, with a sentence
// that says which output is the wrong kind and what to point at instead.
import { z } from "zod";
import { getTool } from "../tools/registry";
import type { PlanIssue, PlanStep } from "../execution/plan-schema";
import { findReferences, isWholeReference, ownInput } from "./references";
import { kindOf, pathTo, shapeAt } from "./tool-outputs";

type JsonType = "string" | "number" | "integer" | "boolean" | "object" | "array" | "null";
interface FieldSchema {
  type?: JsonType | JsonType[];
  anyOf?: FieldSchema[];
  oneOf?: FieldSchema[];
}

const fieldTypes = new Map<string, ReadonlyMap<string, Set<JsonType>>>();

/** The JSON types each top-level input field of a tool accepts (every tool input is flat). */
function typesOf(tool: string): ReadonlyMap<string, Set<JsonType>> {
  const cached = fieldTypes.get(tool);
  if (cached) return cached;
  const schema = getTool(tool)?.input_schema;
  const json = schema ? (z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as { properties?: Record<string, FieldSchema> }) : {};
  const collect = (f: FieldSchema, into: Set<JsonType>): Set<JsonType> => {
    for (const t of [f.type ?? []].flat()) into.add(t);
    for (const branch of [...(f.anyOf ?? []), ...(f.oneOf ?? [])]) collect(branch, into);
    return into;
  };
  const types = new Map(Object.entries(json.properties ?? {}).map(([field, f]) => [field, collect(f, new Set())]));
  fieldTypes.set(tool, types);
  return types;
}

const valueAt = (input: unknown, at: (string | number)[]) =>
  at.reduce<unknown>((v, k) => (v && typeof v === "object" ? (v as Record<string | number, unknown>)[k] : undefined), input);

export function referenceTypeIssues(step: PlanStep, index: number, toolOf: ReadonlyMap<number, string>): PlanIssue[] {
  const issues: PlanIssue[] = [];
  for (const ref of findReferences(ownInput(step.tool, step.input))) {
    const field = ref.at[0];
    const producer = toolOf.get(ref.step_number);
    if (ref.at.length !== 1 || typeof field !== "string" || !producer || !isWholeReference(valueAt(step.input, ref.at))) continue;
    const shape = shapeAt(producer, ref.path);
    const accepts = typesOf(step.tool).get(field);
    if (!shape || !accepts || accepts.size === 0) continue;
    const kind = kindOf(shape);
    if ((kind !== "object" && kind !== "list") || accepts.has(kind === "object" ? "object" : "array")) continue;
    const wants = accepts.has("string") ? "string" : "number";
    const what = ref.path.length ? `step ${ref.step_number}'s output.${ref.path.join(".")}` : `step ${ref.step_number}'s output`;
    const takesNumber = accepts.has("number") || accepts.has("integer");
    const better = (accepts.has("string") && pathTo(shape, "string", field)) || (takesNumber && pathTo(shape, "number", field)) || undefined;
    const hint = better ? ` Point at a field of it, such as {{steps.${ref.step_number}.output${[...ref.path, ...better].map((k) => `.${k}`).join("")}}}.` : "";
    issues.push({
      step_number: step.step_number,
      path: ["steps", index, "input", ...ref.at],
      code: "reference_type_mismatch",
      message: `In step ${step.step_number}, ${what} is ${kind === "object" ? "an object" : "a list"}; ${step.tool} needs a ${wants} ${field}.${hint}`,
    });
  }
  return issues;
}
