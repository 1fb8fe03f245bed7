import { Validator } from "@seriousme/openapi-schema-validator";
import { describe, expect, it } from "vitest";
import { openApiDocument } from "../../src/api/openapi-document";

// Runs in Node: the validator compiles JSON Schemas to code, which workerd does not allow.
describe("the OpenAPI document", () => {
  it("is valid OpenAPI 3.1", async () => {
    const validator = new Validator();
    const result = await validator.validate(openApiDocument() as unknown as Record<string, unknown>);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe("3.1");
  });

  it("describes request bodies with the same constraints the handlers enforce", () => {
    const doc = openApiDocument() as { paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: { properties?: Record<string, unknown>; additionalProperties?: unknown } }> } }>> };
    const body = doc.paths["/api/v1/runs"]!.post!.requestBody!.content["application/json"]!.schema;
    expect(Object.keys(body.properties ?? {})).toEqual(["prompt", "plan", "options"]);
    expect(body.additionalProperties).toBe(false); // unknown fields are rejected, as the API does
  });
});
