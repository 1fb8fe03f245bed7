import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { ReceivedSpan } from "./received-span.ts";

/**
 * A local OTLP/HTTP collector speaking the JSON encoding (POST /v1/traces, `resourceSpans`), for
 * the "otel" project: the Worker exports to it as it would to any collector. It decodes what it
 * receives into flat spans, and a test can make it fail or hang:
 *   POST /v1/traces      ok: stores the spans, 200 {}; fail: 503; hang: holds the request unanswered
 *   POST /mode/M         ok | fail | hang; leaving "hang" answers the held requests 503
 *   GET  /spans?trace=T  the spans received for trace T
 *   GET  /stats          { posts, failed, held }: exports received, answered with an error, held now
 */
type OtlpValue = { stringValue?: string; intValue?: string | number; doubleValue?: number; boolValue?: boolean };
type OtlpAttribute = { key: string; value: OtlpValue };
interface OtlpBody {
  resourceSpans: {
    resource: { attributes: OtlpAttribute[] };
    scopeSpans: { spans: (Omit<ReceivedSpan, "attributes" | "resource"> & { attributes?: OtlpAttribute[] })[] }[];
  }[];
}

const flat = (attrs: OtlpAttribute[] = []) =>
  Object.fromEntries(
    attrs.map((a) => [a.key, a.value.stringValue ?? (a.value.intValue !== undefined ? Number(a.value.intValue) : (a.value.doubleValue ?? a.value.boolValue))]),
  );

export function startCollector(): Promise<Server> {
  const spans: ReceivedSpan[] = [];
  const held: ServerResponse[] = [];
  let mode: "ok" | "fail" | "hang" = "ok";
  let posts = 0;
  let failed = 0;
  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };
  const read = (req: IncomingMessage) =>
    new Promise<string>((resolve) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => resolve(body));
    });
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    if (req.method === "POST" && url.pathname === "/v1/traces") {
      const body = await read(req);
      posts++;
      if (mode === "hang") return void held.push(res);
      if (mode === "fail") {
        failed++;
        return json(res, 503, { code: 14, message: "unavailable" });
      }
      if (!req.headers["content-type"]?.startsWith("application/json")) return json(res, 415, { message: "expected OTLP/JSON" });
      const decoded = JSON.parse(body) as OtlpBody;
      for (const rs of decoded.resourceSpans)
        for (const ss of rs.scopeSpans) for (const s of ss.spans) spans.push({ ...s, attributes: flat(s.attributes), resource: flat(rs.resource.attributes) });
      return json(res, 200, {});
    }
    if (req.method === "POST" && url.pathname.startsWith("/mode/")) {
      mode = url.pathname.slice("/mode/".length) as typeof mode;
      if (mode !== "hang")
        for (const r of held.splice(0)) {
          failed++;
          json(r, 503, { code: 14, message: "unavailable" });
        }
      return json(res, 200, { mode });
    }
    if (url.pathname === "/spans")
      return json(
        res,
        200,
        spans.filter((s) => s.traceId === url.searchParams.get("trace")),
      );
    if (url.pathname === "/stats") return json(res, 200, { posts, failed, held: held.length });
    json(res, 404, { message: "not found" });
  });
  // Unreferenced: it is started with the test config and must not keep the test run alive.
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server.unref())));
}

export const collectorUrl = (server: Server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
