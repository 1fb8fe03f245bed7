import { Hono, type Context } from "hono";
import { MAX_LIVE_TOKENS, type WatchToken } from "../durable/run/watch-tokens";
import type { AppEnv } from "./app-env";
import { runNotFound, runStub } from "./run-lookup";
import { afterQuerySchema } from "./schemas";
import { ApiError } from "./errors";
import { query } from "./validate";

/**
 * Watching a run: GET /runs/{id}/ws (a WebSocket accepted by the run object with the hibernation
 * API) and GET /runs/{id}/stream (the same events as Server-Sent Events, for curl -N and
 * EventSource). Both send every event after `after` (or Last-Event-ID), then live events.
 */
export const subscriptionsApi = new Hono<AppEnv>();

/**
 * Opens the run object's event socket for this request, in one request to the object: with
 * `?token=` (a watch token, single use) the token is the credential; otherwise the API key's
 * tenant must own the run. The object decides, and either failure is the same 404 as a missing run.
 */
async function openSubscription(c: Context<AppEnv>, after: number, token: string | undefined): Promise<Response> {
  const runId = c.req.param("run_id")!;
  const stub = runStub(c.env, runId);
  const url = `https://run.internal/ws?after=${after}${token !== undefined ? `&token=${encodeURIComponent(token)}` : ""}`;
  const headers: Record<string, string> = { upgrade: "websocket" };
  if (token === undefined) headers["x-crane-tenant"] = c.var.principal.tenant;
  const res = await stub.fetch(new Request(url, { headers }));
  if (res.status === 404) throw runNotFound(runId);
  return res;
}

/** Trades the API key for a watch token, for clients (browsers) that cannot send headers on a WebSocket. */
subscriptionsApi.post("/runs/:run_id/watch-token", async (c) => {
  const runId = c.req.param("run_id");
  const issued = (await runStub(c.env, runId).issueWatchToken(c.var.principal.tenant)) as WatchToken | "not_found" | "too_many";
  if (issued === "not_found") throw runNotFound(runId);
  if (issued === "too_many") {
    throw new ApiError(429, "too_many_watch_tokens", `This run has ${MAX_LIVE_TOKENS} unused watch tokens; use them or let them expire (60 s).`, undefined, { "retry-after": "60" });
  }
  c.header("cache-control", "no-store");
  const q = `token=${issued.token}`;
  return c.json({ ...issued, websocket: `/api/v1/runs/${runId}/ws?${q}`, stream: `/api/v1/runs/${runId}/stream?${q}` }, 201);
});

const KEEPALIVE_MS = 15_000;

subscriptionsApi.get("/runs/:run_id/ws", async (c) => {
  if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
    throw new ApiError(426, "upgrade_required", "Connect with a WebSocket (Upgrade: websocket) to watch a run; or use /stream for Server-Sent Events.");
  }
  const { after = 0, token } = query(c, afterQuerySchema);
  return openSubscription(c, after, token);
});

subscriptionsApi.get("/runs/:run_id/stream", async (c) => {
  const q = query(c, afterQuerySchema);
  const lastEventId = c.req.header("last-event-id");
  if (lastEventId !== undefined && !/^\d+$/.test(lastEventId.trim())) throw new ApiError(400, "invalid_last_event_id", "Last-Event-ID must be an event seq.");
  const after = lastEventId !== undefined ? Number(lastEventId) : (q.after ?? 0);
  // The Worker holds the client's stream and listens to the run object over a hibernatable
  // WebSocket, so the object itself can be evicted between events.
  const upstream = (await openSubscription(c, after, q.token)).webSocket;
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
