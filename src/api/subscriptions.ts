// Watching a run: GET /runs/{id}/ws (a WebSocket accepted by the run object with the hibernation
// API) and GET /runs/{id}/stream (the same events as Server-Sent Events, for curl -N and
// EventSource). Both send every event after `after` (or Last-Event-ID), then live events.
// `watchTokenApi` needs an API key; `watchApi` takes a key or a watch token (app.ts mounts them).
import { createRoute } from "@hono/zod-openapi";
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { MAX_LIVE_TOKENS } from "../durable/run/watch-tokens";
import type { AppEnv } from "./app-env";
import { ApiError } from "./errors";
import { requireApiKeyOrWatchToken } from "./middleware/watch-token";
import { ACCESS, createApi, errors, jsonResponse } from "./openapi";
import { watchTokenSchema } from "./response-schemas";
import { runNotFound, runStub } from "./run-lookup";
import { runIdParamsSchema, subscriptionHeadersSchema, subscriptionQuerySchema } from "./schemas";

export const watchTokenApi = createApi();
export const watchApi = createApi();

const tags = ["Watching"];

/**
 * Opens the run object's event socket for this request, in one request to the object: with
 * `?token=` (a watch token, single use) the token is the credential; otherwise the API key's
 * tenant must own the run. The object decides, and either failure is the same 404 as a missing run.
 */
async function openSubscription(c: Context<AppEnv>, runId: string, after: number, token: string | undefined): Promise<Response> {
  const stub = runStub(c.env, runId);
  const url = `https://run.internal/ws?after=${after}${token !== undefined ? `&token=${encodeURIComponent(token)}` : ""}`;
  const headers: Record<string, string> = { upgrade: "websocket" };
  if (token === undefined) headers["x-crane-tenant"] = c.var.principal.tenant;
  const res = await stub.fetch(new Request(url, { headers }));
  if (res.status === 404) throw runNotFound(runId);
  return res;
}

/** Trades the API key for a watch token, for clients (browsers) that cannot send headers on a WebSocket. */
const issueWatchToken = createRoute({
  method: "post",
  path: "/runs/{run_id}/watch-token",
  tags,
  summary: "A single-use token (60 s) that opens the run's WebSocket or stream without a header, for browsers",
  security: ACCESS.apiKey.security,
  request: { params: runIdParamsSchema },
  responses: { 201: jsonResponse(watchTokenSchema, "The token and the URLs it opens"), ...errors(404), ...ACCESS.apiKey.responses },
});

watchTokenApi.openapi(issueWatchToken, async (c) => {
  const { run_id: runId } = c.req.valid("param");
  const issued = await runStub(c.env, runId).issueWatchToken(c.var.principal.tenant);
  if (issued === "not_found") throw runNotFound(runId);
  if (issued === "too_many") {
    throw new ApiError(429, "too_many_watch_tokens", `This run has ${MAX_LIVE_TOKENS} unused watch tokens; use them or let them expire (60 s).`, undefined, {
      "retry-after": "60",
    });
  }
  c.header("cache-control", "no-store");
  const q = `token=${issued.token}`;
  return c.json({ ...issued, websocket: `/api/v1/runs/${runId}/ws?${q}`, stream: `/api/v1/runs/${runId}/stream?${q}` }, 201);
});

const KEEPALIVE_MS = 15_000;

const requireUpgrade = createMiddleware<AppEnv>(async (c, next) => {
  if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
    throw new ApiError(426, "upgrade_required", "Connect with a WebSocket (Upgrade: websocket) to watch a run; or use /stream for Server-Sent Events.");
  }
  await next();
});

// OpenAPI 3.1 cannot describe WebSocket messages or the items of an event stream (3.2's
// itemSchema can; the generator here writes 3.1): the descriptions name the Event component
// each message or `data:` line carries.
const watchSocket = createRoute({
  method: "get",
  path: "/runs/{run_id}/ws",
  tags,
  summary: "Watch the run over a WebSocket: the events after `after`, then live ones",
  description:
    "Each message is one event as JSON (the `Event` schema). Send `ping` and the runtime answers `pong`. The socket stays open after the run ends until you close it.",
  middleware: [requireApiKeyOrWatchToken, requireUpgrade],
  security: ACCESS.apiKeyOrWatchToken.security,
  request: { params: runIdParamsSchema, query: subscriptionQuerySchema },
  responses: { 101: { description: "Switching protocols: a WebSocket of events" }, ...errors(400, 404, 426), ...ACCESS.apiKeyOrWatchToken.responses },
});

watchApi.openapi(watchSocket, async (c) => {
  const { after = 0, token } = c.req.valid("query");
  return openSubscription(c, c.req.valid("param").run_id, after, token);
});

const watchStream = createRoute({
  method: "get",
  path: "/runs/{run_id}/stream",
  tags,
  summary: "Watch the run as Server-Sent Events (resumable with Last-Event-ID)",
  description:
    "Each event is `id: <seq>` and `data: <the event as JSON, the Event schema>`; there is no `event:` field, so EventSource's onmessage sees every event. Comments keep the stream alive.",
  middleware: requireApiKeyOrWatchToken,
  security: ACCESS.apiKeyOrWatchToken.security,
  request: { params: runIdParamsSchema, query: subscriptionQuerySchema, headers: subscriptionHeadersSchema },
  responses: {
    200: { description: "The event stream", content: { "text/event-stream": { schema: { type: "string" } } } },
    ...errors(400, 404, 502),
    ...ACCESS.apiKeyOrWatchToken.responses,
  },
});

watchApi.openapi(watchStream, async (c) => {
  const q = c.req.valid("query");
  const lastEventId = c.req.valid("header")["last-event-id"];
  const after = lastEventId !== undefined ? Number(lastEventId) : (q.after ?? 0);
  // The Worker holds the client's stream and listens to the run object over a hibernatable
  // WebSocket, so the object itself can be evicted between events.
  const upstream = (await openSubscription(c, c.req.valid("param").run_id, after, q.token)).webSocket;
  if (!upstream) throw new ApiError(502, "subscription_failed", "The run object did not accept the subscription; try again.");
  upstream.accept();

  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  const writer = writable.getWriter();
  const encoder = new TextEncoder();
  let open = true;
  const close = () => {
    if (!open) return;
    open = false;
    clearInterval(keepalive);
    try {
      upstream.close(1000, "subscriber gone");
    } catch {
      // already closed
    }
    writer.close().catch(() => {});
  };
  const write = (text: string) => {
    if (open) writer.write(encoder.encode(text)).catch(close);
  };
  const keepalive = setInterval(() => write(": keepalive\n\n"), KEEPALIVE_MS);
  write("retry: 2000\n\n");
  upstream.addEventListener("message", (e) => {
    const seq = (JSON.parse(String(e.data)) as { seq: number }).seq;
    // No `event:` field, so EventSource's onmessage sees every event; the type is in the data.
    write(`id: ${seq}\ndata: ${String(e.data)}\n\n`);
  });
  upstream.addEventListener("close", close);
  upstream.addEventListener("error", close);
  return new Response(readable, { headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", "x-accel-buffering": "no" } });
});
