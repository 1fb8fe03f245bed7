// Says in the document what a `oneOf` of strict objects already means: a key that one branch
// requires may not appear in the others. JSON Schema needs no help (each branch refuses unknown
// keys), but generated clients do: openapi-typescript turns `oneOf: [PromptRun, PlanRun]` into a
// plain TypeScript union, which accepts `{ prompt, plan }` because each key is known to some
// member. A `false` schema for the other branches' keys becomes `plan?: never`, and the union
// becomes exclusive. Validation is unchanged: the branches refused those keys already.

type Node = { [key: string]: unknown };
const isNode = (v: unknown): v is Node => typeof v === "object" && v !== null && !Array.isArray(v);

/** Adds `key: false` to every strict branch of every `oneOf` for the keys its siblings require. */
export function markExclusiveBranches(doc: { components?: { schemas?: Record<string, unknown> } }): void {
  const schemas = doc.components?.schemas ?? {};
  const deref = (s: unknown): unknown => {
    const ref = isNode(s) && typeof s.$ref === "string" ? s.$ref.replace("#/components/schemas/", "") : undefined;
    return ref === undefined ? s : deref(schemas[ref]);
  };
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) return v.forEach(visit);
    if (!isNode(v)) return;
    if (Array.isArray(v.oneOf)) exclusive(v.oneOf.map(deref));
    for (const child of Object.values(v)) visit(child);
  };
  visit(doc);
}

function exclusive(branches: unknown[]): void {
  const strict = branches.filter((b): b is Node & { properties: Node } => isNode(b) && b.additionalProperties === false && isNode(b.properties));
  if (strict.length !== branches.length) return; // a branch that takes any key: nothing to say
  for (const branch of strict) {
    for (const sibling of strict) {
      if (sibling === branch || !Array.isArray(sibling.required)) continue;
      for (const key of sibling.required as string[]) if (!(key in branch.properties)) branch.properties[key] = false;
    }
  }
}
