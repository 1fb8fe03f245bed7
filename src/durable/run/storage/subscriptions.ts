// Live subscribers of a run, on the WebSocket hibernation API: the run object can be evicted while
// sockets stay open, and every appended event is sent to every socket. A new subscriber first
// gets the backlog after its `after`, in the same turn it is accepted, so nothing falls between
// the backlog and the live events and nothing is sent twice.
import type { EventLog } from "./event-log";
import type { RunEvent } from "../domain/events";

export const PING = "ping";
export const PONG = "pong";

const BACKLOG_PAGE = 500;

export function wire(event: RunEvent): string {
  return JSON.stringify({ seq: event.seq, type: event.type, at: event.at, data: event.data });
}

/** Where the run stood when a subscriber was accepted: the SSE stream ends at a terminal event only if it is the latest. */
export interface SubscribedAt {
  last_seq: number;
  ended: boolean;
}

/** Response headers that carry `SubscribedAt` from the run object to the Worker holding an SSE stream. */
export const LAST_SEQ_HEADER = "x-crane-last-seq";
export const ENDED_HEADER = "x-crane-run-ended";

export function subscribe(ctx: DurableObjectState, log: EventLog, after: number, at: SubscribedAt): Response {
  const { 0: client, 1: server } = new WebSocketPair();
  ctx.acceptWebSocket(server);
  server.serializeAttachment({ subscribed_after: after });
  for (let seq = after; ;) {
    const page = log.after(seq, BACKLOG_PAGE);
    for (const event of page) server.send(wire(event));
    // A page may be cut short by its size in bytes: the backlog ends at the run's last event.
    if (page.length === 0 || page.at(-1)!.seq >= at.last_seq) break;
    seq = page.at(-1)!.seq;
  }
  return new Response(null, { status: 101, webSocket: client, headers: { [LAST_SEQ_HEADER]: String(at.last_seq), [ENDED_HEADER]: String(at.ended) } });
}

/** Sends a command's events to every socket: one look-up of the sockets per command, not per event. */
export function broadcast(ctx: DurableObjectState, events: readonly RunEvent[]): void {
  if (events.length === 0) return;
  const sockets = ctx.getWebSockets();
  if (sockets.length === 0) return;
  const messages = events.map(wire);
  for (const ws of sockets) {
    try {
      for (const message of messages) ws.send(message);
    } catch {
      // A socket that is closing: its client reconnects with after=<last seq seen>.
    }
  }
}

/** Who may subscribe, as the run object answers it. */
export interface SubscribeAccess {
  /** Does the tenant own the run? */
  owns(tenant: string): boolean;
  /** Does the watch token open this run? */
  validToken(token: string): Promise<boolean>;
}

/**
 * GET /ws?after=SEQ: a subscription for the tenant in `x-crane-tenant` (set by the API from the
 * caller's key) or the bearer of a watch token. A token that opens nothing is 401 whether or not
 * the run exists (so it tells nobody which run ids exist); a key whose tenant does not own it, 404.
 */
export async function upgrade(request: Request, ctx: DurableObjectState, log: EventLog, access: SubscribeAccess, at: SubscribedAt): Promise<Response> {
  const url = new URL(request.url);
  if (url.pathname !== "/ws" || request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
    return new Response("expected a WebSocket upgrade to /ws", { status: 426 });
  }
  const token = url.searchParams.get("token");
  if (token !== null && !(await access.validToken(token))) return new Response(null, { status: 401 });
  if (token === null && !access.owns(request.headers.get("x-crane-tenant") ?? "")) return new Response(null, { status: 404 });
  const after = Math.max(0, Number(url.searchParams.get("after") ?? 0) || 0);
  return subscribe(ctx, log, after, at);
}

/** A socket's close, echoed (1005, "no status", cannot be sent back). */
export function closed(ws: WebSocket, code: number, reason: string): void {
  try {
    ws.close(code === 1005 ? 1000 : code, reason);
  } catch {
    // already closed
  }
}
