import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A real local webhook receiver: it records every request it gets (headers and raw body, so a
 * test can check the signature with the library's verifier) and answers as its path asks.
 *
 *   POST /hook/KEY?fail=N&status=S&retry_after=R  S (default 503) for the first N requests of KEY
 *                                                  (with Retry-After: R when given), then 204
 *   POST /gone/KEY                                 410 Gone
 *   GET  /received/KEY                             what KEY received, in order, as JSON
 */
export interface Received {
  headers: Record<string, string>;
  body: string;
}

export function startReceiver(port = 0): Promise<Server> {
  const received = new Map<string, Received[]>();
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const [kind, key = ""] = url.pathname.split("/").filter(Boolean);
    if (req.method === "GET" && kind === "received") {
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(JSON.stringify(received.get(key) ?? []));
    }
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(", ") : (v ?? "")]));
      const list = received.get(key) ?? [];
      list.push({ headers, body: Buffer.concat(chunks).toString("utf8") });
      received.set(key, list);
      if (kind === "gone") {
        res.writeHead(410);
        return res.end();
      }
      const failures = Number(url.searchParams.get("fail") ?? 0);
      if (list.length <= failures) {
        const retryAfter = url.searchParams.get("retry_after");
        res.writeHead(Number(url.searchParams.get("status") ?? 503), retryAfter ? { "retry-after": retryAfter } : {});
        return res.end("not yet");
      }
      res.writeHead(204);
      res.end();
    });
  });
  return new Promise((resolve) => server.listen(port, "127.0.0.1", () => resolve(server)));
}

export const receiverUrl = (server: Server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
