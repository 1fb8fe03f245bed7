import { Validator } from "@seriousme/openapi-schema-validator";
import { describe, expect, it, vi } from "vitest";

// Runs in Node: the validator compiles JSON Schemas to code, which workerd does not allow. The
// document is built from the app's routes; two Worker-only modules the app imports are stood in
// for (the Durable Object base class and the console page's HTML), as nothing here calls them.
// The app is imported by a path TypeScript does not follow, since this project is type-checked
// without the Worker's types (tsconfig.node.json); `npm run check` checks the app itself.
vi.mock("cloudflare:workers", () => ({ DurableObject: class {}, env: {} }));
vi.mock("../../src/console/console.html", () => ({ default: "<!doctype html>" }));
const appModule = "../../src/app.ts";
const { openApiDocument } = (await import(/* @vite-ignore */ appModule)) as { openApiDocument: () => unknown };

type Schema = {
  $ref?: string;
  oneOf?: Schema[];
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: unknown;
  minLength?: number;
  pattern?: string;
};
const doc = openApiDocument() as {
  paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: Schema }> } }>>;
  components: { schemas: Record<string, Schema> };
};
const deref = (s: Schema): Schema => (s.$ref ? deref(doc.components.schemas[s.$ref.replace("#/components/schemas/", "")]!) : s);

describe("the OpenAPI document", () => {
  it("is valid OpenAPI 3.1", async () => {
    const validator = new Validator();
    const result = await validator.validate(openApiDocument() as Record<string, unknown>);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe("3.1");
  });

  it("describes POST /runs as a prompt or a plan, each a strict object", () => {
    const body = deref(doc.paths["/api/v1/runs"]!.post!.requestBody!.content["application/json"]!.schema);
    const branches = body.oneOf!.map(deref);
    expect(branches.map((b) => Object.keys(b.properties ?? {}))).toEqual([
      ["prompt", "options", "webhook"],
      ["plan", "options", "webhook"],
    ]);
    expect(branches.map((b) => b.required)).toEqual([["prompt"], ["plan"]]);
    // Unknown fields are rejected, as the API does; so `{}` and `{prompt, plan}` match neither branch.
    expect(branches.map((b) => b.additionalProperties)).toEqual([false, false]);
    expect(branches[0]!.properties!.prompt).toMatchObject({ minLength: 1, pattern: "\\S" });
  });
});
