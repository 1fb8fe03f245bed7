import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A real local HTTP upstream for Http.get: slow, failing, then healthy, rate-limited, redirecting
 * or huge, as its path asks. State (per-key hit counts) lives here, so a test can ask how many
 * calls the upstream really saw.
 *
 *   /ok?delay_ms=N              200 JSON after N ms
 *   /flaky/KEY?fail=N&status=S  S (default 503) for the first N hits of KEY, then 200
 *   /status/S                   always S (with Retry-After: 0 for 429)
 *   /redirect?to=URL&status=S   S (default 302) to URL
 *   /big?bytes=N&char=C         N bytes of text: C repeated (default "x"; "中" is 3 bytes, so N/3 of it)
 *   /hits/KEY                   how many times KEY was hit
 *   /headers                    the request's headers, as JSON
 *   /counted/KEY?fail=N&delay_ms=D  like /flaky, and counts KEY's requests in flight at once
 *   /max/KEY                    the most requests of KEY that were in flight at once
 *   /gate/KEY                   200 JSON once /open/KEY is called (at once if it already was),
 *                               so a test holds a step in flight for as long as it needs, with no timing
 *   /open/KEY                   opens KEY's gate; answers how many requests it let through
 */
export function startUpstream(port = 0): Promise<Server> {
  const hits = new Map<string, number>();
  const active = new Map<string, number>();
  const most = new Map<string, number>();
  const gates = new Map<string, { open: boolean; waiting: (() => void)[] }>();
  const gate = (key: string) => gates.get(key) ?? gates.set(key, { open: false, waiting: [] }).get(key)!;
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      const text = typeof body === "string" ? body : JSON.stringify(body);
      res.writeHead(status, { "content-type": typeof body === "string" ? "text/plain" : "application/json", ...headers });
      res.end(text);
    };
    const parts = url.pathname.split("/").filter(Boolean);
    const key = parts[1] ?? "";
    if (parts[0] !== "hits") hits.set(url.pathname, (hits.get(url.pathname) ?? 0) + 1);
    const delay = Number(url.searchParams.get("delay_ms") ?? 0);
    // /counted/KEY: counts requests in flight at once per KEY (the most seen is at /max/KEY),
    // failing the first `fail` of them with 503, so a test can check a concurrency limit.
    if (parts[0] === "counted") {
      const now = (active.get(key) ?? 0) + 1;
      active.set(key, now);
      most.set(key, Math.max(most.get(key) ?? 0, now));
      res.on("close", () => active.set(key, (active.get(key) ?? 1) - 1));
    }
    if (parts[0] === "gate") {
      const g = gate(key);
      const answer = () => send(200, { ok: true, gate: key, at: Date.now() });
      if (g.open) answer();
      else g.waiting.push(answer);
      return;
    }
    if (parts[0] === "open") {
      const g = gate(key);
      const waiting = g.waiting.splice(0);
      g.open = true;
      for (const answer of waiting) answer();
      return send(200, { released: waiting.length });
    }
    setTimeout(() => {
      switch (parts[0]) {
        case "ok":
          return send(200, { ok: true, path: url.pathname, at: Date.now() });
        case "flaky": {
          const n = hits.get(url.pathname) ?? 0;
          const failures = Number(url.searchParams.get("fail") ?? 1);
          const status = Number(url.searchParams.get("status") ?? 503);
          const extra: Record<string, string> = url.searchParams.has("retry_after") ? { "retry-after": url.searchParams.get("retry_after")! } : {};
          return n <= failures ? send(status, { error: "not yet", hit: n }, extra) : send(200, { ok: true, hit: n, key });
        }
        case "status": {
          const status = Number(key);
          return send(status, { status }, status === 429 ? { "retry-after": "0" } : {});
        }
        case "redirect":
          res.writeHead(Number(url.searchParams.get("status") ?? 302), { location: url.searchParams.get("to") ?? "/ok" });
          return res.end();
        case "big": {
          const char = url.searchParams.get("char") || "x";
          return send(200, char.repeat(Math.floor(Number(url.searchParams.get("bytes") ?? 0) / Buffer.byteLength(char))));
        }
        case "headers":
          return send(200, req.headers);
        case "counted": {
          const n = hits.get(url.pathname) ?? 0;
          return n <= Number(url.searchParams.get("fail") ?? 0) ? send(503, { error: "not yet", hit: n }) : send(200, { ok: true, hit: n });
        }
        case "max":
          return send(200, { max: most.get(key) ?? 0 });
        case "hits":
          return send(200, { hits: hits.get(`/${parts.slice(1).join("/")}`) ?? 0 });
        default:
          return send(404, { error: "no such route" });
      }
    }, delay);
  });
  return new Promise((resolve) => server.listen(port, "127.0.0.1", () => resolve(server)));
}

export const serverUrl = (server: Server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
