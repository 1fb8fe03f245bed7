import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { SSEServerTransport } from "@modelcontextprotocol/sdk/server/sse.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { z } from "zod";

/**
 * A real MCP server for the tests, built with the official SDK, on loopback. Each test uses its
 * own instance id in the path, so their state (failure counters, up or down) stays apart:
 *   POST /s/<id>/mcp          Streamable HTTP (stateless: a server and transport per request)
 *   GET  /sse/<id>/sse, POST /sse/<id>/messages   the older HTTP+SSE transport only
 *   POST /auth/<id>/mcp       Streamable HTTP that wants `Authorization: Bearer mcp-secret`
 *   POST /redirect/<id>/mcp   307 to /auth/<id>/mcp on this same origin
 * Tools: add {a, b} → structured {sum} (pure); echo {text} → text content; slow {ms}; flaky
 * {key, failures} answers HTTP 503 to its first `failures` calls per key, then succeeds; broken
 * {} returns isError: true; record {text} (no annotations: it may change things) and lookup {text}
 * (annotated `readOnlyHint: true`) both echo; plus whatever POST /control/<id>/tools added ({name}: an echo).
 *   POST /control/<id>/down, /up   the instance answers every request with 503, or again normally
 *   GET  /control/<id>/requests   what the instance was sent: method, JSON-RPC method, the tool a
 *                                 tools/call named and its `_meta`, authorization
 */
interface Instance {
  down: boolean;
  flaky: Map<string, number>;
  extraTools: string[];
  requests: { method: string; rpc: string | undefined; tool?: string; meta?: unknown; authorization: string | undefined }[];
}

const instances = new Map<string, Instance>();
const instance = (id: string): Instance => {
  let i = instances.get(id);
  if (!i) instances.set(id, (i = { down: false, flaky: new Map(), extraTools: [], requests: [] }));
  return i;
};

function mcpServer(inst: Instance): McpServer {
  const server = new McpServer({ name: "crane-test-mcp", version: "1.0.0" });
  server.registerTool(
    "add",
    { description: "Adds two numbers.", inputSchema: { a: z.number(), b: z.number() }, outputSchema: { sum: z.number() } },
    ({ a, b }) => ({ content: [{ type: "text", text: String(a + b) }], structuredContent: { sum: a + b } }),
  );
  server.registerTool("echo", { description: "Says the text back.", inputSchema: { text: z.string() } }, ({ text }) => ({ content: [{ type: "text", text }] }));
  server.registerTool("slow", { description: "Answers after ms milliseconds.", inputSchema: { ms: z.number().int() } }, async ({ ms }) => {
    await new Promise((r) => setTimeout(r, ms).unref());
    return { content: [{ type: "text", text: `waited ${ms} ms` }] };
  });
  server.registerTool(
    "flaky",
    { description: "Fails with HTTP 503 `failures` times per key, then succeeds.", inputSchema: { key: z.string(), failures: z.number().int() } },
    ({ key }) => ({
      content: [{ type: "text", text: `ok after ${inst.flaky.get(key) ?? 0} failures` }],
      structuredContent: { calls: (inst.flaky.get(key) ?? 0) + 1 },
    }),
  );
  server.registerTool("broken", { description: "Always reports an error.", inputSchema: {} }, () => ({
    content: [{ type: "text", text: "the widget is jammed" }],
    isError: true,
  }));
  server.registerTool("record", { description: "Records the text (says nothing about its effects).", inputSchema: { text: z.string() } }, ({ text }) => ({
    content: [{ type: "text", text: `recorded ${text}` }],
  }));
  server.registerTool("lookup", { description: "Looks the text up.", inputSchema: { text: z.string() }, annotations: { readOnlyHint: true } }, ({ text }) => ({
    content: [{ type: "text", text: `found ${text}` }],
  }));
  for (const name of inst.extraTools) {
    server.registerTool(name, { description: `A tool added later (${name}).`, inputSchema: { text: z.string() } }, ({ text }) => ({
      content: [{ type: "text", text: `${name}: ${text}` }],
    }));
  }
  return server;
}

// Decoded once, whole: a chunk may end inside a multi-byte character, which decoding chunk by
// chunk would turn into replacement characters (a 96 KiB input of Chinese text came back longer).
const readBody = (req: IncomingMessage) =>
  new Promise<string>((resolve) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
  });

const sseSessions = new Map<string, SSEServerTransport>();

function json(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? "/", "http://localhost");
  const [, kind, id, action] = url.pathname.split("/");
  if (!kind || !id) return json(res, 404, { error: "not found" });
  const inst = instance(id);

  if (kind === "redirect") {
    res.writeHead(307, { location: `/auth/${id}/mcp` });
    res.end();
    return;
  }

  if (kind === "control") {
    if (action === "down") inst.down = true;
    else if (action === "up") inst.down = false;
    else if (action === "tools") inst.extraTools.push(((await readBody(req).then(JSON.parse)) as { name: string }).name);
    else if (action === "requests") return json(res, 200, inst.requests);
    return json(res, 200, { ok: true });
  }

  const raw = req.method === "POST" ? await readBody(req) : "";
  let body: unknown;
  try {
    body = raw ? JSON.parse(raw) : undefined;
  } catch {
    body = undefined;
  }
  const rpc = body && typeof body === "object" && "method" in body ? String((body as { method: unknown }).method) : undefined;
  const params = rpc === "tools/call" ? (body as { params?: { name?: string; _meta?: unknown } }).params : undefined;
  inst.requests.push({
    method: req.method ?? "",
    rpc,
    ...(params ? { tool: params.name, meta: params._meta } : {}),
    authorization: req.headers.authorization,
  });
  if (inst.down) return json(res, 503, { error: "down for the test" });

  if (kind === "sse") {
    if (req.method === "GET" && action === "sse") {
      const transport = new SSEServerTransport(`/sse/${id}/messages`, res);
      sseSessions.set(transport.sessionId, transport);
      res.on("close", () => sseSessions.delete(transport.sessionId));
      await mcpServer(inst).connect(transport);
      return;
    }
    const session = sseSessions.get(url.searchParams.get("sessionId") ?? "");
    if (req.method === "POST" && action === "messages" && session) return session.handlePostMessage(req, res, body);
    // Not Streamable HTTP: a POST to the SSE endpoint is refused, as old servers do.
    return json(res, 405, { error: "this server speaks HTTP+SSE only" });
  }

  if ((kind === "s" || kind === "auth") && action === "mcp") {
    if (kind === "auth" && req.headers.authorization !== "Bearer mcp-secret") return json(res, 401, { error: "unauthorized" });
    if (req.method !== "POST") return json(res, 405, { jsonrpc: "2.0", error: { code: -32000, message: "Method not allowed." }, id: null });
    const call = body as { method?: string; params?: { name?: string; arguments?: { key?: string; failures?: number } } } | undefined;
    if (call?.method === "tools/call" && call.params?.name === "flaky") {
      const key = call.params.arguments?.key ?? "";
      const failed = inst.flaky.get(key) ?? 0;
      if (failed < (call.params.arguments?.failures ?? 0)) {
        inst.flaky.set(key, failed + 1);
        return json(res, 503, { error: "try again" });
      }
    }
    const server = mcpServer(inst);
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on("close", () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    return transport.handleRequest(req, res, body);
  }
  return json(res, 404, { error: "not found" });
}

export function startMockMcp(port = 0): Promise<Server> {
  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) json(res, 500, { error: String(err) });
    });
  });
  // Unreferenced, with its connections (an SSE stream stays open): it is started with the test
  // config and must not keep the test run alive.
  server.on("connection", (socket) => socket.unref());
  return new Promise((resolve) => server.listen(port, "127.0.0.1", () => resolve(server.unref())));
}

export const mcpMockUrl = (server: Server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
