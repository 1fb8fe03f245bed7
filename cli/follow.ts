/** Following a run's events over its WebSocket. */
import { CraneError, wireEventSchema, type CraneClient, type WireEvent } from "./client.ts";

const TERMINAL_EVENTS = new Set(["run.completed", "run.failed", "run.cancelled"]);

/** Follows a run's events until it ends; resolves to its final status. Reconnects after a drop. */
export function follow(client: CraneClient, runId: string, onEvent: (e: WireEvent) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    let last = 0;
    let drops = 0;
    let ended = false;
    const connect = async () => {
      let ws: Awaited<ReturnType<CraneClient["watch"]>>;
      try {
        ws = await client.watch(runId, last);
      } catch (err) {
        reject(err);
        return;
      }
      ws.addEventListener("message", (m) => {
        if (m.data === "pong") return;
        let event: WireEvent;
        try {
          event = wireEventSchema.parse(JSON.parse(String(m.data)));
        } catch {
          return; // not an event (a newer server's control message): nothing to show
        }
        if (event.seq <= last) return;
        last = event.seq;
        onEvent(event);
        if (TERMINAL_EVENTS.has(event.type)) {
          ended = true;
          ws.close(1000);
          resolve(event.type.slice("run.".length));
        }
      });
      ws.addEventListener("close", () => {
        // A dropped connection resumes after the last event seen; a finished run does not.
        if (ended) return;
        if (last > 0 && ++drops <= 5) setTimeout(connect, 250 * drops);
        else reject(new CraneError(0, "connection_lost", `Lost the connection to run ${runId} at ${client.url}; \`crane watch ${runId}\` picks it up again.`));
      });
      ws.addEventListener("error", () => {
        if (last === 0) reject(new CraneError(0, "unreachable", `Cannot watch run ${runId} at ${client.url}.`));
      });
    };
    void connect();
  });
}
