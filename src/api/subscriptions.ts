import { Hono } from "hono";
import { existingRun } from "./run-lookup";
import { afterQuerySchema } from "./schemas";
import { ApiError } from "./errors";
import { query } from "./validate";

/**
 * Watching a run: GET /runs/{id}/ws (a WebSocket accepted by the run object with the hibernation
 * API) and GET /runs/{id}/stream (the same events as Server-Sent Events, for curl -N and
 * EventSource). Both send every event after `after` (or Last-Event-ID), then live events.
 */
export const subscriptionsApi = new Hono<{ Bindings: Env }>();

const KEEPALIVE_MS = 15_000;

subscriptionsApi.get("/runs/:run_id/ws", async (c) => {
  if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
    throw new ApiError(426, "upgrade_required", "Connect with a WebSocket (Upgrade: websocket) to watch a run; or use /stream for Server-Sent Events.");
  }
  const { after = 0 } = query(c, afterQuerySchema);
  const stub = await existingRun(c.env, c.req.param("run_id"));
  return stub.fetch(new Request(`https://run.internal/ws?after=${after}`, { headers: { upgrade: "websocket" } }));
});

subscriptionsApi.get("/runs/:run_id/stream", async (c) => {
  const q = query(c, afterQuerySchema);
  const lastEventId = c.req.header("last-event-id");
  if (lastEventId !== undefined && !/^\d+$/.test(lastEventId.trim())) throw new ApiError(400, "invalid_last_event_id", "Last-Event-ID must be an event seq.");
  const after = lastEventId !== undefined ? Number(lastEventId) : (q.after ?? 0);
  const stub = await existingRun(c.env, c.req.param("run_id"));

  // The Worker holds the client's stream and listens to the run object over a hibernatable
  // WebSocket, so the object itself can be evicted between events.
  const upstream = (await stub.fetch(new Request(`https://run.internal/ws?after=${after}`, { headers: { upgrade: "websocket" } }))).webSocket;
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
