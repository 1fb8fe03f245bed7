import { z } from "zod";
import pkg from "../../package.json";
import { errorBodySchema } from "./error-shape";
import { apiKeyListSchema, apiKeySchema, breakerListSchema, breakerStatusSchema, createdKeySchema, eventPageSchema, healthSchema, runListSchema, runResourceSchema, toolListSchema, usageSchema, watchTokenSchema } from "./response-schemas";
import { afterQuerySchema, createKeyBodySchema, createRunBodySchema,
  createRunQuerySchema, listEventsQuerySchema, listKeysQuerySchema, listRunsQuerySchema, planBodySchema } from "./schemas";
import { planSchema } from "../planner/plan-schema";
import { layoutRequestSchema } from "../console/layout-schema";

/**
 * The OpenAPI 3.1 document, generated from the zod schemas the handlers validate with (request
 * bodies and queries) and answer with. One table lists every route; a test checks it against the
 * routes the app really has. Kept free of Worker-only imports so Node can validate it too.
 */
interface RouteDoc {
  method: "get" | "post" | "delete";
  path: string;
  summary: string;
  body?: z.ZodType;
  query?: z.ZodObject;
  ok: { status: number; schema: z.ZodType; description: string; text?: boolean };
  /** Other successful answers with the same body. */
  alsoOk?: { status: number; description: string }[];
  errors: number[];
  /** Who may call it; default: an API key. */
  auth?: "apiKey" | "watch" | "admin" | "metrics" | "none";
}

const RUN_ID = { name: "run_id", in: "path", required: true, schema: { type: "string", pattern: "^run_[0-9a-f]{32}$" } };

export const ROUTES: RouteDoc[] = [
  {
    method: "post",
    path: "/api/v1/runs",
    summary: "Plan and start a run (Idempotency-Key makes retries safe; ?wait=N answers once it ends, up to N s)",
    body: createRunBodySchema,
    query: createRunQuerySchema,
    ok: { status: 201, schema: runResourceSchema, description: "The run, created (with ?wait, as it ended if it ended within the wait)" },
    alsoOk: [
      { status: 200, description: "A replay of an Idempotency-Key: the run it created" },
      { status: 202, description: "With ?wait: the run had not ended within the wait; the run as it stands" },
    ],
    errors: [400, 409, 413, 415],
  },
  { method: "get", path: "/api/v1/runs", summary: "Run history from D1, newest first", query: listRunsQuerySchema, ok: { status: 200, schema: runListSchema, description: "A page of runs" }, errors: [400] },
  { method: "get", path: "/api/v1/runs/{run_id}", summary: "The whole run, live from its run object", ok: { status: 200, schema: runResourceSchema, description: "The run" }, errors: [404] },
  { method: "get", path: "/api/v1/runs/{run_id}/events", summary: "The run's event log, in order", query: listEventsQuerySchema, ok: { status: 200, schema: eventPageSchema, description: "A page of events" }, errors: [400, 404] },
  { method: "get", path: "/api/v1/runs/{run_id}/ws", summary: "Watch the run over a WebSocket: the events after `after`, then live ones", query: afterQuerySchema, ok: { status: 101, schema: z.string(), description: "Switching protocols; each message is one event {seq, type, at, data}", text: true }, errors: [400, 404, 426], auth: "watch" },
  { method: "get", path: "/api/v1/runs/{run_id}/stream", summary: "Watch the run as Server-Sent Events (resumable with Last-Event-ID)", query: afterQuerySchema, ok: { status: 200, schema: z.string(), description: "text/event-stream; id is the event seq, data the event", text: true }, errors: [400, 404], auth: "watch" },
  { method: "post", path: "/api/v1/runs/{run_id}/watch-token", summary: "A single-use token (60 s) that opens the run's WebSocket or stream without a header, for browsers", ok: { status: 201, schema: watchTokenSchema, description: "The token and the URLs it opens" }, errors: [404] },
  { method: "get", path: "/api/v1/runs/{run_id}/usage", summary: "Billable operations the run has made", ok: { status: 200, schema: usageSchema, description: "Counters" }, errors: [404] },
  { method: "post", path: "/api/v1/runs/{run_id}/cancel", summary: "Cancel a run that has not ended", ok: { status: 200, schema: runResourceSchema, description: "The cancelled run" }, errors: [404, 409] },
  { method: "post", path: "/api/v1/runs/{run_id}/resume", summary: "Re-run a failed or cancelled run's failed and skipped steps", ok: { status: 200, schema: runResourceSchema, description: "The resumed run" }, errors: [404, 409] },
  { method: "post", path: "/api/v1/plans", summary: "The plan a prompt would run, without running it", body: planBodySchema, ok: { status: 200, schema: planSchema, description: "The plan" }, errors: [400, 413, 415] },
  { method: "get", path: "/api/v1/tools", summary: "Every tool with its input JSON Schema", ok: { status: 200, schema: toolListSchema, description: "The catalogue" }, errors: [] },
  { method: "get", path: "/api/v1/health", summary: "Dependency checks", ok: { status: 200, schema: healthSchema, description: "Healthy" }, errors: [503], auth: "none" },
  { method: "get", path: "/api/v1/breakers", summary: "The caller's tenant's circuit breaker for every queue tool", ok: { status: 200, schema: breakerListSchema, description: "Breakers" }, errors: [] },
  { method: "post", path: "/api/v1/breakers/{tool}/reset", summary: "Close one of the caller's tenant's breakers by hand", ok: { status: 200, schema: breakerStatusSchema, description: "The breaker, closed" }, errors: [404] },
  { method: "get", path: "/api/v1/openapi.json", summary: "This document", ok: { status: 200, schema: z.record(z.string(), z.unknown()), description: "OpenAPI 3.1" }, errors: [] },
  { method: "post", path: "/console/layout", summary: "The console's DAG layout (dagre) for a plan's steps", body: layoutRequestSchema, ok: { status: 200, schema: z.record(z.string(), z.unknown()), description: "Node positions and edge routes" }, errors: [400, 413, 415] },
  { method: "get", path: "/metrics", summary: "Prometheus metrics", ok: { status: 200, schema: z.string(), description: "Prometheus text exposition", text: true }, errors: [401], auth: "metrics" },
  { method: "post", path: "/api/v1/admin/keys", summary: "Make an API key for a tenant; its secret is in this response only", body: createKeyBodySchema, ok: { status: 201, schema: createdKeySchema, description: "The key and its secret" }, errors: [400, 413, 415], auth: "admin" },
  { method: "get", path: "/api/v1/admin/keys", summary: "API keys (never their secrets), newest first", query: listKeysQuerySchema, ok: { status: 200, schema: apiKeyListSchema, description: "Keys" }, errors: [400], auth: "admin" },
  { method: "delete", path: "/api/v1/admin/keys/{key_id}", summary: "Revoke an API key (idempotent)", ok: { status: 200, schema: z.object({ key: apiKeySchema }), description: "The revoked key" }, errors: [404], auth: "admin" },
];

const SECURITY: Record<string, unknown[]> = {
  apiKey: [{ apiKey: [] }],
  watch: [{ apiKey: [] }, { watchToken: [] }],
  admin: [{ adminToken: [] }],
  metrics: [{ metricsToken: [] }],
  none: [],
};

const ERROR_TEXT: Record<number, string> = {
  400: "Invalid input",
  401: "Missing, unknown or revoked credentials",
  404: "Not found",
  409: "Conflict with the run's state or an earlier use of the Idempotency-Key",
  413: "Body over 64 KiB",
  415: "Body is not JSON",
  426: "Not a WebSocket upgrade",
  429: "Rate limited, or the tenant's runs in flight are at their limit; see Retry-After",
  503: "A dependency is failing (health), or the admin API is off (no ADMIN_TOKEN)",
};

const json = (schema: z.ZodType, io: "input" | "output") => z.toJSONSchema(schema, { io, unrepresentable: "any", target: "draft-2020-12" });

function queryParameters(schema: z.ZodObject) {
  const js = json(schema, "input") as { properties?: Record<string, unknown>; required?: string[] };
  return Object.entries(js.properties ?? {}).map(([name, s]) => ({ name, in: "query", required: js.required?.includes(name) ?? false, schema: s }));
}

export function openApiDocument() {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of ROUTES) {
    const parameters = [
      ...(r.path.includes("{run_id}") ? [RUN_ID] : []),
      ...(r.path.includes("{key_id}") ? [{ name: "key_id", in: "path", required: true, schema: { type: "string", pattern: "^key_[0-9a-f]{20}$" } }] : []),
      ...(r.path.includes("{tool}") ? [{ name: "tool", in: "path", required: true, schema: { type: "string" } }] : []),
      ...(r.method === "post" && r.path === "/api/v1/runs" ? [{ name: "Idempotency-Key", in: "header", required: false, schema: { type: "string", maxLength: 255 } }] : []),
      ...(r.path === "/api/v1/runs" && r.method === "post" ? [{ name: "traceparent", in: "header", required: false, schema: { type: "string" }, description: "W3C trace context" }] : []),
      ...(r.query ? queryParameters(r.query) : []),
    ];
    const responses: Record<string, unknown> = {
      [String(r.ok.status)]: { description: r.ok.description, content: { [r.ok.text ? "text/plain" : "application/json"]: { schema: json(r.ok.schema, "output") } } },
    };
    for (const also of r.alsoOk ?? []) responses[String(also.status)] = { description: also.description, content: { "application/json": { schema: json(r.ok.schema, "output") } } };
    const auth = r.auth ?? "apiKey";
    const statuses = [...r.errors, ...(auth === "none" ? [] : [401]), ...(auth === "apiKey" || auth === "watch" ? [429] : []), ...(auth === "admin" ? [503] : [])];
    for (const status of [...new Set(statuses)].sort()) responses[String(status)] = { description: ERROR_TEXT[status], content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } };
    (paths[r.path] ??= {})[r.method] = {
      summary: r.summary,
      operationId: `${r.method}${r.path.replace(/[{}]/g, "").replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ""))}`,
      ...(parameters.length ? { parameters } : {}),
      ...(r.body ? { requestBody: { required: true, content: { "application/json": { schema: json(r.body, "input") } } } } : {}),
      responses,
      security: SECURITY[auth],
    };
  }
  return {
    openapi: "3.1.0",
    info: { title: "Crane", version: pkg.version, description: "Durable AI agent runs on Cloudflare Workers: plan a task into a DAG of tool calls and run it." },
    servers: [{ url: "/" }],
    paths,
    components: {
      schemas: { Error: json(errorBodySchema, "output") },
      securitySchemes: {
        apiKey: { type: "http", scheme: "bearer", description: "An API key (POST /api/v1/admin/keys; locally DEV_API_KEY, crane_dev_key). It decides the tenant." },
        watchToken: { type: "apiKey", in: "query", name: "token", description: "A watch token from POST /api/v1/runs/{run_id}/watch-token (single use, 60 s)" },
        adminToken: { type: "http", scheme: "bearer", description: "ADMIN_TOKEN" },
        metricsToken: { type: "http", scheme: "bearer", description: "METRICS_TOKEN, or ADMIN_TOKEN" },
      },
    },
  };
}
