// An MCP tool's input is described by the server in JSON Schema, not zod: plans are checked
// against it with @cfworker/json-schema, which interprets schemas rather than compiling them to
// code (Workers refuse eval). Validators are kept per schema text, since a catalogue's schemas
// repeat across plans.
import { Validator, type OutputUnit } from "@cfworker/json-schema";

export interface SchemaIssue {
  /** Where in the input, as keys and indexes. */
  path: (string | number)[];
  message: string;
}

const validators = new Map<string, Validator>();
const MAX_VALIDATORS = 500;

function validatorFor(schema: Record<string, unknown>): Validator {
  const text = JSON.stringify(schema);
  let v = validators.get(text);
  if (!v) {
    if (validators.size >= MAX_VALIDATORS) validators.clear();
    // Servers write drafts 7 and 2020-12 alike; 2020-12 reads both for the keywords tools use.
    v = new Validator(schema as ConstructorParameters<typeof Validator>[0], "2020-12", false);
    validators.set(text, v);
  }
  return v;
}

/** "#/a/0/b" → ["a", 0, "b"] */
function pathOf(pointer: string): (string | number)[] {
  return pointer
    .replace(/^#\/?/, "")
    .split("/")
    .filter(Boolean)
    .map((p) => p.replaceAll("~1", "/").replaceAll("~0", "~"))
    .map((p) => (/^\d+$/.test(p) ? Number(p) : p));
}

// Keywords that only say "something inside failed": the inner error says what.
const WRAPPERS = new Set(["properties", "items", "prefixItems", "additionalItems", "allOf", "$ref", "dependentSchemas", "unevaluatedProperties"]);

/** The input's problems against the schema; empty when it is valid. */
export function checkJsonSchema(schema: Record<string, unknown>, input: unknown): SchemaIssue[] {
  const result = validatorFor(schema).validate(input);
  if (result.valid) return [];
  const leaves = result.errors.filter((e: OutputUnit) => !WRAPPERS.has(e.keyword));
  const seen = new Set<string>();
  return (leaves.length ? leaves : result.errors.slice(0, 1)).flatMap((e) => {
    const key = `${e.instanceLocation} ${e.error}`;
    if (seen.has(key)) return [];
    seen.add(key);
    // A missing property is reported at its object; the path names the property itself.
    const missing = e.keyword === "required" ? /"([^"]+)"/.exec(e.error)?.[1] : undefined;
    return [{ path: [...pathOf(e.instanceLocation), ...(missing ? [missing] : [])], message: e.error }];
  });
}
