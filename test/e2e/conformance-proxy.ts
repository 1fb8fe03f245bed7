// A recording proxy in front of `wrangler dev` for the end-to-end suite: every answer the CLI and
// the console get from /api/v1 passes through here and is checked against the served OpenAPI
// document (test/openapi-check.ts). Real clients, real traffic: what they are answered is what
// the document promises, or the suite fails. WebSocket upgrades and event streams are passed
// through as they are (their status and content type are checked; the stream itself is not
// buffered). Paths outside /api/v1 (the console page, /docs) are not part of the document.
import { createServer, request as httpRequest, type IncomingMessage, type Server } from "node:http";
import { connect } from "node:net";
import { brotliDecompressSync, gunzipSync, inflateSync } from "node:zlib";
import { DocumentChecker, essence, type OpenApiDocument } from "../openapi-check.ts";

export interface ConformanceReport {
  /** One line per answer checked: "GET /api/v1/runs/{run_id} 200". */
  checked: string[];
  /** Everything that did not conform, with the request it came from. */
  violations: string[];
}

/** Where a test reads the report: served by the proxy itself, never forwarded. */
export const REPORT_PATH = "/__conformance";

/** Paths under /api/v1 that are deliberately outside the public description. */
const UNDESCRIBED = new Set(["/api/v1/console/layout"]);

/** The body as sent, for checking; the client still gets the encoded bytes. */
function decoded(raw: Buffer, encoding: string | undefined): Buffer {
  if (encoding === "gzip") return gunzipSync(raw);
  if (encoding === "br") return brotliDecompressSync(raw);
  if (encoding === "deflate") return inflateSync(raw);
  return raw;
}

const headersOf = (res: IncomingMessage) => ({
  get: (name: string) => {
    const v = res.headers[name.toLowerCase()];
    return v === undefined ? null : Array.isArray(v) ? v.join(", ") : v;
  },
});

export async function startConformanceProxy(target: string, port: number): Promise<{ url: string; server: Server; report: ConformanceReport }> {
  const docRes = await fetch(`${target}/api/v1/openapi.json`);
  if (!docRes.ok) throw new Error(`openapi.json answered ${docRes.status}`);
  const checker = new DocumentChecker((await docRes.json()) as OpenApiDocument);
  const report: ConformanceReport = { checked: [], violations: [] };
  const upstream = new URL(target);

  const record = (method: string, path: string, answer: Parameters<DocumentChecker["check"]>[2]) => {
    if (!path.startsWith("/api/v1/") || UNDESCRIBED.has(path)) return;
    const template = checker.templateOf(path);
    const problems = template ? checker.check(method, template, answer) : [`${method} ${path} matches no documented path`];
    report.checked.push(`${method} ${template ?? path} ${answer.status}`);
    report.violations.push(...problems.map((p) => `${method} ${path}: ${p}`));
  };

  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0]!;
    if (path === REPORT_PATH) {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(report));
      return;
    }
    const out = httpRequest({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (up) => {
      const method = req.method ?? "GET";
      const type = essence(up.headers["content-type"]);
      if (type !== "application/json") {
        // Streams and pages pass straight through; only their status and type are checked.
        record(method, path, { status: up.statusCode ?? 0, headers: headersOf(up) });
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
        return;
      }
      const chunks: Buffer[] = [];
      up.on("data", (c: Buffer) => chunks.push(c));
      up.on("end", () => {
        const raw = Buffer.concat(chunks);
        let body: unknown;
        try {
          body = JSON.parse(decoded(raw, up.headers["content-encoding"]).toString("utf8"));
        } catch (err) {
          body = `unreadable JSON: ${String(err)}`;
        }
        record(method, path, { status: up.statusCode ?? 0, headers: headersOf(up), body });
        res.writeHead(up.statusCode ?? 502, up.headers).end(raw);
      });
    });
    out.on("error", (err) => res.writeHead(502, { "content-type": "text/plain" }).end(`proxy: ${err.message}`));
    req.pipe(out);
  });

  // A WebSocket upgrade: checked as a 101 of its documented operation, then piped both ways.
  server.on("upgrade", (req, socket, head) => {
    const path = (req.url ?? "/").split("?")[0]!;
    const up = connect(Number(upstream.port), upstream.hostname, () => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`, ...Object.entries(req.headers).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(", ") : v}`)];
      up.write(`${lines.join("\r\n")}\r\n\r\n`);
      if (head.length) up.write(head);
      up.once("data", (first: Buffer) => {
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(first.toString("latin1"))?.[1] ?? 0);
        const headerText = first.toString("latin1").split("\r\n\r\n")[0]!;
        const headers = new Map(
          headerText
            .split("\r\n")
            .slice(1)
            .map((l) => [l.slice(0, l.indexOf(":")).trim().toLowerCase(), l.slice(l.indexOf(":") + 1).trim()] as const),
        );
        record(req.method ?? "GET", path, { status, headers: { get: (n) => headers.get(n.toLowerCase()) ?? null } });
        socket.write(first);
        up.pipe(socket);
        socket.pipe(up);
      });
    });
    const close = () => {
      up.destroy();
      socket.destroy();
    };
    up.on("error", close);
    socket.on("error", close);
  });

  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${port}`, server, report };
}
