// Whether a value is a JSON Schema, checked with @cfworker/json-schema against a meta-schema of
// the keywords an answer's schema uses (draft 2020-12's names and types). The full meta-schema is
// not bundled with the library; this one refuses what would make the check meaningless (a `type`
// that is no type, `properties` that are not schemas, an unresolvable `$ref`), and lets unknown
// keywords through, as JSON Schema does.
import { Validator } from "@cfworker/json-schema";

const TYPES = ["array", "boolean", "integer", "null", "number", "object", "string"];

const META = {
  $defs: {
    schema: {
      type: ["object", "boolean"],
      properties: {
        type: { anyOf: [{ enum: TYPES }, { type: "array", items: { enum: TYPES }, minItems: 1, uniqueItems: true }] },
        properties: { type: "object", additionalProperties: { $ref: "#/$defs/schema" } },
        patternProperties: { type: "object", additionalProperties: { $ref: "#/$defs/schema" } },
        additionalProperties: { $ref: "#/$defs/schema" },
        items: { $ref: "#/$defs/schema" },
        prefixItems: { type: "array", items: { $ref: "#/$defs/schema" } },
        required: { type: "array", items: { type: "string" }, uniqueItems: true },
        enum: { type: "array" },
        anyOf: { type: "array", minItems: 1, items: { $ref: "#/$defs/schema" } },
        oneOf: { type: "array", minItems: 1, items: { $ref: "#/$defs/schema" } },
        allOf: { type: "array", minItems: 1, items: { $ref: "#/$defs/schema" } },
        not: { $ref: "#/$defs/schema" },
        $defs: { type: "object", additionalProperties: { $ref: "#/$defs/schema" } },
        definitions: { type: "object", additionalProperties: { $ref: "#/$defs/schema" } },
        minimum: { type: "number" },
        maximum: { type: "number" },
        minLength: { type: "integer", minimum: 0 },
        maxLength: { type: "integer", minimum: 0 },
        minItems: { type: "integer", minimum: 0 },
        maxItems: { type: "integer", minimum: 0 },
        pattern: { type: "string" },
        $ref: { type: "string" },
        description: { type: "string" },
      },
    },
  },
  $ref: "#/$defs/schema",
};

const meta = new Validator(META as ConstructorParameters<typeof Validator>[0], "2020-12", false);

/** Problems that make `value` no JSON Schema; empty when it is one. */
export function jsonSchemaProblems(value: unknown): string[] {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return ["a JSON Schema is an object"];
  const result = meta.validate(value);
  if (!result.valid) {
    const leaves = result.errors.filter((e) => !["$ref", "properties", "additionalProperties", "items", "anyOf"].includes(e.keyword));
    return (leaves.length ? leaves : result.errors).slice(0, 5).map((e) => `${e.instanceLocation.replace(/^#/, "") || "/"}: ${e.error}`);
  }
  try {
    // Building a validator and using it once resolves every $ref: one that points nowhere throws.
    new Validator(value as ConstructorParameters<typeof Validator>[0], "2020-12", false).validate(null);
  } catch (err) {
    return [err instanceof Error ? err.message : String(err)];
  }
  return [];
}
