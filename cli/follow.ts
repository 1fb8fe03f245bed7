/**
 * Following a run's events over its WebSocket, through dropped connections and server restarts:
 * the run goes on on the server whatever happens to the socket, so a drop is retried with capped,
 * jittered backoff and resumed after the last seq seen (no gap, no duplicate). Only a refusal that
 * another try cannot fix (a bad key, an unknown run) or an outage longer than the reconnect
 * timeout ends the follow early.
 */
import { CraneError, wireEventSchema, type CraneClient, type WireEvent } from "./client.ts";
import { span } from "./render.ts";

const TERMINAL_EVENTS = new Set(["run.completed", "run.failed", "run.cancelled"]);

export const DEFAULT_RECONNECT_TIMEOUT_MS = 5 * 60_000;
const BASE_DELAY_MS = 250;
const MAX_DELAY_MS = 10_000;

/** The exit code for "gave up reconnecting; the run itself is fine", apart from 1 (run failed) and 2 (API error). */
export const EXIT_RECONNECT_TIMEOUT = 3;

export class ReconnectTimeout extends CraneError {
  override name = "ReconnectTimeout";
  /** The command that picks the run up again. */
  readonly resume: string;
  constructor(message: string, resume: string) {
    super(0, "reconnect_timeout", message);
    this.resume = resume;
  }
}

export interface FollowOptions {
  /** How long one outage may last before giving up (default 5 minutes). */
  reconnectTimeoutMs?: number;
  /** Told once per outage, when the connection is first lost. */
  onLost?: () => void;
  /** Told when events flow again after an outage. */
  onBack?: () => void;
  /** The command that picks the run up again, for the give-up message. */
  resumeCommand?: string;
  /** For tests: the wait before a retry, and the clock. */
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  random?: () => number;
}

/** The n-th retry's delay: exponential from 250 ms, capped at 10 s, with jitter over its upper half. */
export function backoffDelay(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** attempt);
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** Refusals another try cannot change: the key, the run, the request itself. */
const fatal = (err: unknown) => err instanceof CraneError && err.status >= 400 && err.status < 500 && err.status !== 429 && err.status !== 408;

/** Follows a run's events until it ends; resolves to its final status. */
export function follow(client: CraneClient, runId: string, onEvent: (e: WireEvent) => void, opts: FollowOptions = {}): Promise<string> {
  const timeout = opts.reconnectTimeoutMs ?? DEFAULT_RECONNECT_TIMEOUT_MS;
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const resume = opts.resumeCommand ?? `crane watch ${runId}`;
  return new Promise((resolve, reject) => {
    let last = 0;
    let ended = false;
    /** When the current outage began; null while connected. */
    let lostAt: number | null = null;
    let attempt = 0;

    const lost = () => {
      if (ended) return;
      if (lostAt === null) {
        lostAt = now();
        attempt = 0;
        opts.onLost?.();
      }
      if (now() - lostAt >= timeout) {
        ended = true;
        reject(new ReconnectTimeout(`Could not reach run ${runId} at ${client.url} for ${span(timeout)}; the run continues on the server.`, resume));
        return;
      }
      const delay = Math.min(backoffDelay(attempt++, opts.random), Math.max(0, lostAt + timeout - now()));
      void sleep(delay).then(connect);
    };

    const back = () => {
      if (lostAt === null) return;
      lostAt = null;
      opts.onBack?.();
    };

    const connect = async () => {
      let ws: Awaited<ReturnType<CraneClient["watch"]>>;
      try {
        ws = await client.watch(runId, last);
      } catch (err) {
        if (fatal(err)) {
          ended = true;
          reject(err);
        } else lost();
        return;
      }
      let closed = false;
      ws.addEventListener("open", back);
      ws.addEventListener("message", (m) => {
        if (m.data === "pong") return;
        let event: WireEvent;
        try {
          event = wireEventSchema.parse(JSON.parse(String(m.data)));
        } catch {
          return; // not an event (a newer server's control message): nothing to show
        }
        back();
        if (event.seq <= last) return;
        last = event.seq;
        onEvent(event);
        if (TERMINAL_EVENTS.has(event.type)) {
          ended = true;
          ws.close(1000);
          resolve(event.type.slice("run.".length));
        }
      });
      // A socket that fails reports an error and then closes: one retry per socket.
      const onDown = () => {
        if (closed) return;
        closed = true;
        lost();
      };
      ws.addEventListener("close", onDown);
      ws.addEventListener("error", onDown);
    };
    void connect();
  });
}
