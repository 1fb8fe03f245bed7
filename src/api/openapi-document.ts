import { z } from "zod";
import pkg from "../../package.json";
import { errorBodySchema } from "./error-shape";
import { breakerListSchema, breakerStatusSchema, eventPageSchema, healthSchema, runListSchema, runResourceSchema, toolListSchema, usageSchema } from "./response-schemas";
import { afterQuerySchema, createRunBodySchema, listEventsQuerySchema, listRunsQuerySchema, planBodySchema } from "./schemas";
import { planSchema } from "../planner/plan-schema";
import { layoutRequestSchema } from "../console/layout-schema";

/**
 * The OpenAPI 3.1 document, generated from the zod schemas the handlers validate with (request
 * bodies and queries) and answer with. One table lists every route; a test checks it against the
 * routes the app really has. Kept free of Worker-only imports so Node can validate it too.
 */
interface RouteDoc {
  method: "get" | "post";
  path: string;
  summary: string;
  body?: z.ZodType;
  query?: z.ZodObject;
  ok: { status: number; schema: z.ZodType; description: string; text?: boolean };
  errors: number[];
  auth?: boolean;
}

const RUN_ID = { name: "run_id", in: "path", required: true, schema: { type: "string", pattern: "^run_[0-9a-f]{32}$" } };

export const ROUTES: RouteDoc[] = [
  { method: "post", path: "/api/v1/runs", summary: "Plan and start a run (Idempotency-Key makes retries safe)", body: createRunBodySchema, ok: { status: 201, schema: runResourceSchema, description: "The run, created" }, errors: [400, 409, 413, 415] },
  { method: "get", path: "/api/v1/runs", summary: "Run history from D1, newest first", query: listRunsQuerySchema, ok: { status: 200, schema: runListSchema, description: "A page of runs" }, errors: [400] },
  { method: "get", path: "/api/v1/runs/{run_id}", summary: "The whole run, live from its run object", ok: { status: 200, schema: runResourceSchema, description: "The run" }, errors: [404] },
  { method: "get", path: "/api/v1/runs/{run_id}/events", summary: "The run's event log, in order", query: listEventsQuerySchema, ok: { status: 200, schema: eventPageSchema, description: "A page of events" }, errors: [400, 404] },
  { method: "get", path: "/api/v1/runs/{run_id}/ws", summary: "Watch the run over a WebSocket: the events after `after`, then live ones", query: afterQuerySchema, ok: { status: 101, schema: z.string(), description: "Switching protocols; each message is one event {seq, type, at, data}", text: true }, errors: [400, 404, 426] },
  { method: "get", path: "/api/v1/runs/{run_id}/stream", summary: "Watch the run as Server-Sent Events (resumable with Last-Event-ID)", query: afterQuerySchema, ok: { status: 200, schema: z.string(), description: "text/event-stream; id is the event seq, data the event", text: true }, errors: [400, 404] },
  { method: "get", path: "/api/v1/runs/{run_id}/usage", summary: "Billable operations the run has made", ok: { status: 200, schema: usageSchema, description: "Counters" }, errors: [404] },
  { method: "post", path: "/api/v1/runs/{run_id}/cancel", summary: "Cancel a run that has not ended", ok: { status: 200, schema: runResourceSchema, description: "The cancelled run" }, errors: [404, 409] },
  { method: "post", path: "/api/v1/runs/{run_id}/resume", summary: "Re-run a failed or cancelled run's failed and skipped steps", ok: { status: 200, schema: runResourceSchema, description: "The resumed run" }, errors: [404, 409] },
  { method: "post", path: "/api/v1/plans", summary: "The plan a prompt would run, without running it", body: planBodySchema, ok: { status: 200, schema: planSchema, description: "The plan" }, errors: [400, 413, 415] },
  { method: "get", path: "/api/v1/tools", summary: "Every tool with its input JSON Schema", ok: { status: 200, schema: toolListSchema, description: "The catalogue" }, errors: [] },
  { method: "get", path: "/api/v1/health", summary: "Dependency checks", ok: { status: 200, schema: healthSchema, description: "Healthy" }, errors: [503] },
  { method: "get", path: "/api/v1/breakers", summary: "Every queue tool's circuit breaker", ok: { status: 200, schema: breakerListSchema, description: "Breakers" }, errors: [] },
  { method: "post", path: "/api/v1/breakers/{tool}/reset", summary: "Close a breaker by hand", ok: { status: 200, schema: breakerStatusSchema, description: "The breaker, closed" }, errors: [404] },
  { method: "get", path: "/api/v1/openapi.json", summary: "This document", ok: { status: 200, schema: z.record(z.string(), z.unknown()), description: "OpenAPI 3.1" }, errors: [] },
  { method: "post", path: "/console/layout", summary: "The console's DAG layout (dagre) for a plan's steps", body: layoutRequestSchema, ok: { status: 200, schema: z.record(z.string(), z.unknown()), description: "Node positions and edge routes" }, errors: [400, 413, 415] },
  { method: "get", path: "/metrics", summary: "Prometheus metrics", ok: { status: 200, schema: z.string(), description: "Prometheus text exposition", text: true }, errors: [401], auth: true },
];

const ERROR_TEXT: Record<number, string> = {
  400: "Invalid input",
  401: "Missing or wrong token",
  404: "Not found",
  409: "Conflict with the run's state or an earlier use of the Idempotency-Key",
  413: "Body over 64 KiB",
  415: "Body is not JSON",
  426: "Not a WebSocket upgrade",
  503: "A dependency is failing",
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
      ...(r.path.includes("{tool}") ? [{ name: "tool", in: "path", required: true, schema: { type: "string" } }] : []),
      ...(r.method === "post" && r.path === "/api/v1/runs" ? [{ name: "Idempotency-Key", in: "header", required: false, schema: { type: "string", maxLength: 255 } }] : []),
      ...(r.path === "/api/v1/runs" && r.method === "post" ? [{ name: "traceparent", in: "header", required: false, schema: { type: "string" }, description: "W3C trace context" }] : []),
      ...(r.query ? queryParameters(r.query) : []),
    ];
    const responses: Record<string, unknown> = {
      [String(r.ok.status)]: { description: r.ok.description, content: { [r.ok.text ? "text/plain" : "application/json"]: { schema: json(r.ok.schema, "output") } } },
    };
    for (const status of r.errors) responses[String(status)] = { description: ERROR_TEXT[status], content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } };
    (paths[r.path] ??= {})[r.method] = {
      summary: r.summary,
      operationId: `${r.method}${r.path.replace(/[{}]/g, "").replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ""))}`,
      ...(parameters.length ? { parameters } : {}),
      ...(r.body ? { requestBody: { required: true, content: { "application/json": { schema: json(r.body, "input") } } } } : {}),
      responses,
      ...(r.auth ? { security: [{}, { metricsToken: [] }] } : {}),
    };
  }
  return {
    openapi: "3.1.0",
    info: { title: "Crane", version: pkg.version, description: "Durable AI agent runs on Cloudflare Workers: plan a task into a DAG of tool calls and run it." },
    servers: [{ url: "/" }],
    paths,
    components: {
      schemas: { Error: json(errorBodySchema, "output") },
      securitySchemes: { metricsToken: { type: "http", scheme: "bearer", description: "METRICS_TOKEN, when configured" } },
    },
  };
}
