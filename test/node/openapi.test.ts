import { Validator } from "@seriousme/openapi-schema-validator";
import { writeFileSync } from "node:fs";
import { describe, expect, it, vi } from "vitest";
import { DocumentChecker, type OpenApiDocument } from "../openapi-check.ts";

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
  anyOf?: Schema[];
  $ref?: string;
  oneOf?: Schema[];
  properties?: Record<string, Schema | boolean>;
  required?: string[];
  additionalProperties?: unknown;
  minLength?: number;
  pattern?: string;
};
const doc = openApiDocument() as {
  paths: Record<string, Record<string, { operationId?: string; requestBody?: { content: Record<string, { schema: Schema }> } }>>;
  components: { schemas: Record<string, Schema> };
};
// `OPENAPI_OUT=openapi.json npx vitest run --project node test/node/openapi.test.ts` also writes the
// document to a file, for `redocly lint` (redocly.yaml), which wants a file, not an app.
if (process.env.OPENAPI_OUT) writeFileSync(process.env.OPENAPI_OUT, `${JSON.stringify(doc, null, 2)}\n`);
const deref = (s: Schema): Schema => (s.$ref ? deref(doc.components.schemas[s.$ref.replace("#/components/schemas/", "")]!) : s);

describe("the OpenAPI document", () => {
  it("is valid OpenAPI 3.1", async () => {
    const validator = new Validator();
    const result = await validator.validate(openApiDocument() as Record<string, unknown>);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe("3.1");
  });

  it("gives every operation a unique, readable operationId, which generated clients name their methods after", () => {
    const ops = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, op]) => ({ at: `${method.toUpperCase()} ${path}`, id: op.operationId })),
    );
    expect(ops.length).toBeGreaterThan(40);
    expect(ops.filter((o) => o.id === undefined).map((o) => o.at)).toEqual([]);
    for (const o of ops) expect(o.id, o.at).toMatch(/^[a-z][A-Za-z]+$/);
    const ids = ops.map((o) => o.id);
    expect(ids.filter((id, i) => ids.indexOf(id) !== i)).toEqual([]);
    expect(doc.paths["/api/v1/runs"]!.post!.operationId).toBe("createRun");
    expect(doc.paths["/api/v1/runs/{run_id}/events"]!.get!.operationId).toBe("listRunEvents");
  });

  it("describes POST /runs as a prompt, a plan or an agent, each a strict object", () => {
    const body = deref(doc.paths["/api/v1/runs"]!.post!.requestBody!.content["application/json"]!.schema);
    const branches = body.oneOf!.map(deref);
    expect(branches.map((b) => Object.keys(b.properties ?? {}))).toEqual([
      ["prompt", "options", "webhook", "plan", "agent"],
      ["plan", "options", "webhook", "prompt", "agent"],
      ["agent", "options", "webhook", "prompt", "plan"],
    ]);
    // Each branch forbids the others' keys with a `false` schema, so a client generated from the
    // document refuses `{ prompt, plan }` too (openapi-typescript writes it as `plan?: never`).
    expect([branches[0]!.properties!.plan, branches[0]!.properties!.agent, branches[1]!.properties!.prompt, branches[1]!.properties!.agent]).toEqual([
      false,
      false,
      false,
      false,
    ]);
    expect([branches[2]!.properties!.prompt, branches[2]!.properties!.plan]).toEqual([false, false]);
    expect(branches.map((b) => b.required)).toEqual([["prompt"], ["plan"], ["agent"]]);
    // Unknown fields are rejected, as the API does; so `{}` and `{prompt, plan}` match no branch.
    expect(branches.map((b) => b.additionalProperties)).toEqual([false, false, false]);
    expect(branches[0]!.properties!.prompt).toMatchObject({ minLength: 1, pattern: "\\S" });
    // The agent branch is Agent.run's input, documented as its own component.
    const agent = deref(branches[2]!.properties!.agent as Schema);
    expect(Object.keys(agent.properties ?? {})).toEqual(expect.arrayContaining(["goal", "tools", "approve", "max_turns", "budget", "model", "output_schema"]));
    expect(agent.required).toEqual(["goal"]);
  });

  it("documents the agent loop's events, turns and model usage", () => {
    const schemas = doc.components.schemas;
    const event = deref(schemas.Event!);
    const types = event.oneOf!.map(
      (b) => (deref(b).properties!.type as { const?: string; enum?: string[] }).const ?? (deref(b).properties!.type as { enum: string[] }).enum[0],
    );
    for (const t of [
      "agent.turn_started",
      "llm.call_started",
      "llm.delta",
      "llm.call_succeeded",
      "llm.call_failed",
      "agent.call_waiting",
      "agent.finished",
      "agent.budget_exceeded",
      "agent.max_turns_exceeded",
    ])
      expect(types, t).toContain(t);
    expect(Object.keys(deref(schemas.Step!).properties ?? {})).toEqual(expect.arrayContaining(["turns", "usage"]));
    expect(deref(schemas.Usage!).required).toContain("llm");
    expect(Object.keys(deref(schemas.DecisionRequest!).properties ?? {})).toContain("call");
    expect(doc.paths["/api/v1/admin/tenants/{tenant}/llm-budget"]).toBeDefined();
  });

  // What a validating proxy (Prism) does with a request: validate the body against the document's
  // schema and refuse it with 422 when it does not match. Crane answers a batch with bad items 207,
  // with an error in each bad item's place, so the document must accept such a batch.
  it("accepts a batch with bad items, as the server does, and still refuses a malformed envelope", () => {
    const checker = new DocumentChecker(doc as unknown as OpenApiDocument);
    const schema = doc.paths["/api/v1/runs/batch"]!.post!.requestBody!.content["application/json"]!.schema;
    const errorsOf = (body: unknown) => checker.errorsOf("batch request", schema as never, body);
    const good = { prompt: "calculate 2+2", idempotency_key: "k-1" };
    expect(errorsOf({ runs: [good] })).toEqual([]);
    expect(errorsOf({ runs: [good, { prompt: "" }, { prompt: "x", plan: { steps: [] } }, "not an object", { nope: 1 }] })).toEqual([]);
    expect(errorsOf({ runs: [] })).not.toEqual([]);
    expect(errorsOf({ runs: Array.from({ length: 101 }, () => good) })).not.toEqual([]);
    expect(errorsOf({ runs: [good], extra: true })).not.toEqual([]);
    // The item's own shape is still named for generated clients: BatchRun, a prompt or a plan.
    const items = deref(deref(schema as Schema).properties!.runs as Schema) as Schema & { items: Schema };
    expect(items.items.anyOf![0]).toEqual({ $ref: "#/components/schemas/BatchRun" });
    expect(checker.errorsOf("BatchRun", { $ref: "#/components/schemas/BatchRun" } as never, { prompt: "x", plan: { steps: [] } })).not.toEqual([]);
    expect(checker.errorsOf("BatchRun", { $ref: "#/components/schemas/BatchRun" } as never, good)).toEqual([]);
  });
});
