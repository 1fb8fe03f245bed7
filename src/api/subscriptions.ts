// Watching a run: GET /runs/{id}/ws (a WebSocket accepted by the run object with the hibernation
// API) and GET /runs/{id}/stream (the same events as Server-Sent Events, for curl -N and
// EventSource). Both send every event after `after` (or Last-Event-ID), then live events; the
// stream ends after the run's terminal event, and a reconnection past it answers 204, which tells
// an EventSource to stop reconnecting.
// `watchTokenApi` needs an API key; `watchApi` takes a key or a watch token (app.ts mounts them).
import { createRoute } from "@hono/zod-openapi";
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { ENDED_HEADER, LAST_SEQ_HEADER } from "../durable/run/storage/subscriptions";
import { MAX_LIVE_TOKENS, WATCH_TOKEN_TTL_MS } from "../durable/run/storage/watch-tokens";
import { TERMINAL_RUN_STATUSES } from "../execution/statuses";
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
 * `?token=` (a watch token) the token is the credential; otherwise the API key's tenant must own
 * the run. A token that opens nothing (expired, made up, another run's) is 401
 * `watch_token_invalid`, whether or not the run exists; a key's tenant that does not own the run is
 * the same 404 as a missing run.
 */
async function openSubscription(c: Context<AppEnv>, runId: string, after: number, token: string | undefined): Promise<Response> {
  const stub = runStub(c.env, runId);
  const url = `https://run.internal/ws?after=${after}${token !== undefined ? `&token=${encodeURIComponent(token)}` : ""}`;
  const headers: Record<string, string> = { upgrade: "websocket" };
  if (token === undefined) headers["x-crane-tenant"] = c.var.principal.tenant;
  const res = await stub.fetch(new Request(url, { headers }));
  if (res.status === 401) throw watchTokenInvalid(runId);
  if (res.status === 404) throw runNotFound(runId);
  return res;
}

const watchTokenInvalid = (runId: string) =>
  new ApiError(
    401,
    "watch_token_invalid",
    `This watch token does not open run "${runId}" (expired, or issued for another run); get a new one.`,
    {
      run_id: runId,
      renew: `POST /api/v1/runs/${runId}/watch-token`,
    },
    { "www-authenticate": 'Bearer realm="crane", error="invalid_token"' },
  );

/** Trades the API key for a watch token, for clients (browsers) that cannot send headers on a WebSocket. */
const issueWatchToken = createRoute({
  method: "post",
  operationId: "createWatchToken",
  path: "/runs/{run_id}/watch-token",
  tags,
  summary: "A token (10 min) that opens the run's WebSocket or stream without a header, for browsers; reconnections may reuse it until it expires",
  security: ACCESS.apiKey.security,
  request: { params: runIdParamsSchema },
  responses: { 201: jsonResponse(watchTokenSchema, "The token and the URLs it opens"), ...errors(404), ...ACCESS.apiKey.responses },
});

watchTokenApi.openapi(issueWatchToken, async (c) => {
  const { run_id: runId } = c.req.valid("param");
  const issued = await runStub(c.env, runId).issueWatchToken(c.var.principal.tenant);
  if (issued === "not_found") throw runNotFound(runId);
  if (issued === "too_many") {
    throw new ApiError(429, "too_many_watch_tokens", `This run has ${MAX_LIVE_TOKENS} unexpired watch tokens; reuse one until it expires.`, undefined, {
      "retry-after": String(WATCH_TOKEN_TTL_MS / 1000),
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
  operationId: "watchRunWebSocket",
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
  operationId: "streamRunEvents",
  path: "/runs/{run_id}/stream",
  tags,
  summary: "Watch the run as Server-Sent Events (resumable with Last-Event-ID); the stream ends after the run's terminal event",
  description:
    "Each event is `id: <seq>`, `event: <its type>` (so `addEventListener('step.succeeded', …)` works; `onmessage` sees none) and `data: <the event as JSON, the Event schema>`. Comments keep the stream alive. The stream ends after the terminal event (`run.completed`, `run.failed`, `run.cancelled`) when it is the run's latest; asked for events after that, it answers 204, which stops an EventSource from reconnecting. A watch token may be used again until it expires, so an EventSource reconnects to the same URL with `Last-Event-ID` and misses nothing.",
  middleware: requireApiKeyOrWatchToken,
  security: ACCESS.apiKeyOrWatchToken.security,
  request: { params: runIdParamsSchema, query: subscriptionQuerySchema, headers: subscriptionHeadersSchema },
  responses: {
    200: { description: "The event stream", content: { "text/event-stream": { schema: { type: "string" } } } },
    204: { description: "The run has ended and there is nothing after the given seq: stop reconnecting" },
    ...errors(400, 404, 502),
    ...ACCESS.apiKeyOrWatchToken.responses,
  },
});

const TERMINAL_EVENTS: ReadonlySet<string> = new Set(TERMINAL_RUN_STATUSES.map((s) => `run.${s}`));

watchApi.openapi(watchStream, async (c) => {
  const q = c.req.valid("query");
  const lastEventId = c.req.valid("header")["last-event-id"];
  const after = lastEventId !== undefined ? Number(lastEventId) : (q.after ?? 0);
  // The Worker holds the client's stream and listens to the run object over a hibernatable
  // WebSocket, so the object itself can be evicted between events.
  const subscription = await openSubscription(c, c.req.valid("param").run_id, after, q.token);
  const upstream = subscription.webSocket;
  if (!upstream) throw new ApiError(502, "subscription_failed", "The run object did not accept the subscription; try again.");
  upstream.accept();
  // A terminal event ends the stream only when it is the run's latest: a resumed run's log holds
  // an earlier run.failed that its backlog replays before the run goes on.
  const lastSeq = Number(subscription.headers.get(LAST_SEQ_HEADER) ?? Number.POSITIVE_INFINITY);
  if (subscription.headers.get(ENDED_HEADER) === "true" && after >= lastSeq) {
    upstream.close(1000, "nothing left to send");
    return c.body(null, 204);
  }

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
    const { seq, type } = JSON.parse(String(e.data)) as { seq: number; type: string };
    write(`id: ${seq}\nevent: ${type}\ndata: ${String(e.data)}\n\n`);
    if (TERMINAL_EVENTS.has(type) && seq >= lastSeq) close();
  });
  upstream.addEventListener("close", close);
  upstream.addEventListener("error", close);
  return new Response(readable, { headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", "x-accel-buffering": "no" } });
});
