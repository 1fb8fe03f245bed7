// Checks one real answer against the served OpenAPI document: the status must be documented for
// the operation, required headers must be there, the content type must be a documented one, and
// a JSON body must validate against its schema (JSON Schema 2020-12 with @cfworker/json-schema,
// which runs in workerd and in Node alike). Used by the conformance test in workerd and by the
// end-to-end suite's recording proxy, so both hold the server to the same rules.
import { Validator, type Schema } from "@cfworker/json-schema";

export interface Operation {
  requestBody?: { content: Record<string, { schema: Schema }> };
  responses: Record<string, { headers?: Record<string, { required?: boolean }>; content?: Record<string, { schema: Schema }> }>;
}
export interface OpenApiDocument {
  paths: Record<string, Record<string, Operation>>;
  components: Record<string, unknown>;
}

export const essence = (type: string | null | undefined) => (type ?? "").split(";")[0]!.trim().toLowerCase();

export class DocumentChecker {
  private readonly validators = new Map<string, Validator>();
  /** Path templates, literal ones first so `/runs/{run_id}` never shadows a fixed path. */
  private readonly templates: { template: string; pattern: RegExp }[];

  readonly doc: OpenApiDocument;

  constructor(doc: OpenApiDocument) {
    this.doc = doc;
    this.templates = Object.keys(doc.paths)
      .sort((a, b) => Number(a.includes("{")) - Number(b.includes("{")))
      .map((template) => ({ template, pattern: new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\\?\{[^}]+\\?\}/g, "[^/]+")}$`) }));
  }

  /** The documented template a concrete path matches, or undefined. */
  templateOf(path: string): string | undefined {
    return this.templates.find((t) => t.pattern.test(path))?.template;
  }

  /** A validator for a schema of the document, its `$ref`s resolved against the document's components. */
  validatorFor(key: string, schema: Schema): Validator {
    let v = this.validators.get(key);
    if (!v) {
      // A copy per validator: the validator annotates the schema objects it is given.
      v = new Validator(structuredClone({ ...schema, components: this.doc.components }) as Schema, "2020-12", false);
      this.validators.set(key, v);
    }
    return v;
  }

  /** What is wrong with a value for a schema, as readable lines; empty when it is valid. */
  errorsOf(key: string, schema: Schema, value: unknown): string[] {
    return this.validatorFor(key, schema)
      .validate(value)
      .errors.map((e) => `${e.instanceLocation}: ${e.error}`);
  }

  /**
   * What is wrong with one answer; empty when it conforms. `body` is the parsed JSON for a JSON
   * answer and is ignored otherwise (streams are read by their caller).
   */
  check(method: string, template: string, answer: { status: number; headers: { get(name: string): string | null }; body?: unknown }): string[] {
    const what = `${method.toUpperCase()} ${template} → ${answer.status}`;
    const op = this.doc.paths[template]?.[method.toLowerCase()];
    if (!op) return [`${method.toUpperCase()} ${template} is not documented`];
    const documented = op.responses[String(answer.status)];
    if (!documented) return [`${what} is not documented`];
    const problems: string[] = [];
    for (const [name, header] of Object.entries(documented.headers ?? {})) {
      if (header.required && answer.headers.get(name) === null) problems.push(`${what}: header ${name} is missing`);
    }
    const media = Object.entries(documented.content ?? {});
    if (media.length === 0) return problems; // 101: no body
    const type = answer.headers.get("content-type");
    const match = media.find(([t]) => essence(t) === essence(type));
    if (!match) return [...problems, `${what}: content type ${type} is not one of ${media.map(([t]) => t).join(", ")}`];
    if (essence(match[0]) !== "application/json") return problems;
    const errors = this.errorsOf(`${method} ${template} ${answer.status} ${match[0]}`, match[1].schema, answer.body);
    return [...problems, ...errors.map((e) => `${what}: ${e} in ${JSON.stringify(answer.body).slice(0, 300)}`)];
  }
}
