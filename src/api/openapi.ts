// The pieces every route module uses to declare its routes once (@hono/zod-openapi's
// createRoute): the router, response helpers, who may call a route, and the document built from
// the routes the app mounts.
import { OpenAPIHono, type z } from "@hono/zod-openapi";
import pkg from "../../package.json";
import type { AppEnv } from "./app-env";
import { errorBodySchema } from "./error-shape";
import { markExclusiveBranches } from "./openapi-exclusive";
import { validationHook } from "./middleware/validation-hook";

/** A router whose zod validators answer invalid input with our 400 (see validation-hook.ts). */
export const createApi = () => new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

export const jsonResponse = <S extends z.ZodType>(schema: S, description: string) => ({ description, content: { "application/json": { schema } } });

export const jsonRequest = <S extends z.ZodType>(schema: S, description: string) => ({
  required: true,
  description,
  content: { "application/json": { schema } },
});

const header = (description: string, schema: Record<string, unknown>) => ({ description, required: true, schema });
export const LOCATION = { Location: header("The run's URL", { type: "string" }) };
const WWW_AUTHENTICATE = { "WWW-Authenticate": header("How to authenticate: the Bearer scheme", { type: "string" }) };
const RETRY_AFTER = { "Retry-After": header("Seconds to wait before trying again", { type: "integer", minimum: 1 }) };

const ERRORS = {
  400: {
    description:
      "Invalid input: the body, query or a header does not match the schema (validation_failed, invalid_query, invalid_json, …), or the request cannot be planned",
  },
  401: { description: "Missing, malformed, unknown or revoked credentials", headers: WWW_AUTHENTICATE },
  404: { description: "Not found: unknown, malformed and other tenants' ids alike" },
  409: { description: "Conflicts with the run's state, or with an earlier use of the Idempotency-Key" },
  413: { description: "The body is over 64 KiB" },
  415: { description: "The body is not JSON (send Content-Type: application/json)" },
  426: { description: "Not a WebSocket upgrade" },
  429: { description: "Rate limited, or a limit of the tenant or run is reached", headers: RETRY_AFTER },
  500: { description: "An unexpected failure on our side (logged)" },
  502: {
    description: "Something Crane depends on did not answer as needed: the run object refused a subscription (try again), or an MCP server could not be used",
  },
  503: {
    description:
      "A feature is not configured: the admin API (no ADMIN_TOKEN), or headers for MCP servers (MCP_HEADER_KEY missing or malformed); or a part of Crane is overloaded or briefly unreachable (with Retry-After: try again then)",
  },
} as const;
type ErrorStatus = keyof typeof ERRORS;
type ErrorResponse<S extends ErrorStatus> = (typeof ERRORS)[S] & { content: { "application/json": { schema: typeof errorBodySchema } } };

/** Error answers, each in the one error shape (the `Error` component). */
export function errors<const S extends readonly ErrorStatus[]>(...statuses: S): { [K in S[number]]: ErrorResponse<K> } {
  const responses: Partial<Record<ErrorStatus, unknown>> = {};
  for (const s of statuses) responses[s] = { ...ERRORS[s], content: { "application/json": { schema: errorBodySchema } } };
  return responses as { [K in S[number]]: ErrorResponse<K> };
}

/**
 * Who may call a route, with the answers its credentials add. The router decides it (the groups
 * in app.ts); the declaration says the same to clients. test/security.test.ts calls every route
 * the document says needs a key without one, and test/openapi-conformance.test.ts checks each
 * route's answers against what it declares.
 */
const access = <const S extends readonly ErrorStatus[]>(security: Record<string, string[]>[], ...statuses: S) => ({ security, responses: errors(...statuses) });
export const ACCESS = {
  public: access([], 500),
  apiKey: access([{ apiKey: [] }], 401, 429, 500),
  apiKeyOrWatchToken: access([{ apiKey: [] }, { watchToken: [] }], 401, 429, 500),
  admin: access([{ adminToken: [] }], 401, 429, 500, 503),
  metrics: access([{ metricsToken: [] }], 401, 500),
};

const DOCUMENT = {
  openapi: "3.1.0",
  info: { title: "Crane", version: pkg.version, description: "Durable AI agent runs on Cloudflare Workers: plan a task into a DAG of tool calls and run it." },
  servers: [{ url: "/" }],
};

const SECURITY_SCHEMES = {
  apiKey: { type: "http", scheme: "bearer", description: "An API key (POST /api/v1/admin/keys; locally DEV_API_KEY, crane_dev_key). It decides the tenant." },
  watchToken: {
    type: "apiKey",
    in: "query",
    name: "token",
    description: "A watch token from POST /api/v1/runs/{run_id}/watch-token (valid 10 min, reusable for reconnections), without an Authorization header",
  },
  adminToken: { type: "http", scheme: "bearer", description: "ADMIN_TOKEN" },
  metricsToken: { type: "http", scheme: "bearer", description: "METRICS_TOKEN, or ADMIN_TOKEN" },
} as const;

/** The OpenAPI 3.1 document of every route `app` mounts (hidden ones aside). */
export function buildDocument(app: OpenAPIHono<AppEnv>) {
  for (const [name, scheme] of Object.entries(SECURITY_SCHEMES)) app.openAPIRegistry.registerComponent("securitySchemes", name, scheme);
  const doc = app.getOpenAPI31Document(DOCUMENT);
  markExclusiveBranches(doc);
  return doc;
}
export type OpenApiDocument = ReturnType<typeof buildDocument>;
