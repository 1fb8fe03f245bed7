import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A local model server speaking the OpenAI chat-completions wire protocol (POST /v1/chat/completions,
 * streaming over SSE or not), answering from a script each test registers.
 *
 * The script key is the request's model name (or an `x-script-key` header, which wins), so one
 * server serves every test at once. A script is a list of turns; the turn a request belongs to is
 * the number of assistant messages it carries (turn 0 is the first call). That is what a durable
 * agent loop re-asks after a crash, so "calls per turn" is the count a test checks to prove a
 * recorded model call was never made again. A turn is one reply, or a list of replies given to its
 * successive attempts (the last repeats): `[{ error: { status: 429 } }, { text: "ok" }]`.
 *
 * Control (over HTTP, so tests running in workerd can drive it):
 *   PUT    /scripts/{key}   { turns: [...] }   register (or replace) a script, resetting its counters
 *   GET    /scripts/{key}                      { calls: { "0": 2, ... }, requests: [...], max_concurrency, in_flight }
 *   DELETE /scripts/{key}
 */

export interface ScriptedToolCall {
  id?: string;
  name: string;
  /** An object is sent as its JSON; a string is sent as it is (to script malformed arguments). */
  arguments: unknown;
}

export interface ScriptedReply {
  text?: string;
  tool_calls?: ScriptedToolCall[];
  /**
   * Defaults: prompt_tokens one per 4 bytes of the request's messages and tools (about what a BPE
   * tokenizer makes of English and JSON), completion_tokens 5. Completion tokens never exceed the
   * request's max_tokens: a reply over it is reported cut off (finish "length"), as a provider does.
   */
  usage?: { prompt_tokens?: number; completion_tokens?: number };
  /** Default: "tool_calls" when there are tool calls, else "stop". */
  finish_reason?: "stop" | "tool_calls" | "length";
  /** Waits this long before answering (the request counts as in flight meanwhile). */
  latency_ms?: number;
  /** Answer with this HTTP error instead (OpenAI's error body; `retry_after` becomes Retry-After). */
  error?: { status: number; message?: string; retry_after?: string };
  /** Streaming only: send this many SSE chunks, then drop the connection without [DONE]. */
  disconnect_after_chunks?: number;
  /** Streaming only: send this many SSE chunks, then end the response cleanly, with no finish and no [DONE]. */
  end_after_chunks?: number;
  /** Streaming only: code points per content chunk (default 8). */
  chunk_size?: number;
  /** Streaming only: wait this long between chunks, so the text arrives over time as a real model writes it. */
  chunk_delay_ms?: number;
}

export type ScriptedTurn = ScriptedReply | ScriptedReply[];

export interface RecordedRequest {
  turn: number;
  attempt: number;
  stream: boolean;
  include_usage: boolean;
  max_tokens: number | null;
  messages: unknown[];
  tools: { name: string; description?: string; parameters?: unknown }[];
}

interface Script {
  turns: ScriptedTurn[];
  calls: Map<number, number>;
  requests: RecordedRequest[];
  inFlight: number;
  maxConcurrency: number;
}

interface ChatRequest {
  model?: string;
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
  max_tokens?: number;
  max_completion_tokens?: number;
  messages?: { role: string }[];
  tools?: { type: string; function: { name: string; description?: string; parameters?: unknown } }[];
}

export function startScriptedModel(): Promise<Server> {
  const scripts = new Map<string, Script>();

  const server = createServer((req, res) => {
    void readBody(req).then((body) => {
      const url = new URL(req.url ?? "/", "http://local");
      const control = /^\/scripts\/([^/]+)$/.exec(url.pathname);
      if (control) return controlRequest(scripts, req.method ?? "GET", decodeURIComponent(control[1]!), body, res);
      if (req.method !== "POST" || url.pathname !== "/v1/chat/completions") return sendError(res, 404, "not found");
      let request: ChatRequest;
      try {
        request = JSON.parse(body) as ChatRequest;
      } catch {
        return sendError(res, 400, "the body is not JSON");
      }
      const key = (req.headers["x-script-key"] as string | undefined) ?? request.model ?? "";
      const script = scripts.get(key);
      if (!script) return sendError(res, 404, `no script registered for '${key}'`, "model_not_found");
      answer(script, request, res);
    });
  });
  // Unreferenced: it is started with the test config and must not keep the test run alive.
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server.unref())));
}

export const scriptedModelUrl = (server: Server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
  });
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

function sendError(res: ServerResponse, status: number, message: string, code?: string, headers: Record<string, string> = {}): void {
  json(res, status, { error: { message, type: status >= 500 ? "server_error" : "invalid_request_error", code: code ?? null } }, headers);
}

function controlRequest(scripts: Map<string, Script>, method: string, key: string, body: string, res: ServerResponse): void {
  if (method === "PUT") {
    const { turns } = JSON.parse(body) as { turns: ScriptedTurn[] };
    scripts.set(key, { turns, calls: new Map(), requests: [], inFlight: 0, maxConcurrency: 0 });
    return json(res, 200, { key, turns: turns.length });
  }
  if (method === "DELETE") {
    scripts.delete(key);
    return json(res, 200, { key });
  }
  const script = scripts.get(key);
  if (!script) return sendError(res, 404, `no script registered for '${key}'`);
  json(res, 200, {
    calls: Object.fromEntries(script.calls),
    requests: script.requests,
    max_concurrency: script.maxConcurrency,
    in_flight: script.inFlight,
  });
}

function answer(script: Script, request: ChatRequest, res: ServerResponse): void {
  const messages = request.messages ?? [];
  const turn = messages.filter((m) => m.role === "assistant").length;
  const attempt = script.calls.get(turn) ?? 0;
  script.calls.set(turn, attempt + 1);
  const stream = request.stream === true;
  script.requests.push({
    turn,
    attempt,
    stream,
    include_usage: request.stream_options?.include_usage === true,
    max_tokens: request.max_tokens ?? request.max_completion_tokens ?? null,
    messages,
    tools: (request.tools ?? []).map((t) => t.function),
  });
  script.inFlight++;
  script.maxConcurrency = Math.max(script.maxConcurrency, script.inFlight);
  res.on("close", () => script.inFlight--);

  const scripted = script.turns[turn];
  if (scripted === undefined) return sendError(res, 500, `the script has no turn ${turn}`);
  const replies = Array.isArray(scripted) ? scripted : [scripted];
  const reply = replies[Math.min(attempt, replies.length - 1)]!;
  const respond = () => {
    if (reply.error) {
      const headers: Record<string, string> = reply.error.retry_after ? { "retry-after": reply.error.retry_after } : {};
      return sendError(res, reply.error.status, reply.error.message ?? `scripted ${reply.error.status}`, undefined, headers);
    }
    if (stream) streamReply(res, request, reply);
    else json(res, 200, completion(request, reply));
  };
  if (reply.latency_ms) setTimeout(respond, reply.latency_ms);
  else respond();
}

function usageOf(request: ChatRequest, reply: ScriptedReply) {
  const promptBytes = Buffer.byteLength(JSON.stringify([request.messages ?? [], request.tools ?? []]));
  const prompt = reply.usage?.prompt_tokens ?? Math.ceil(promptBytes / 4);
  const wanted = reply.usage?.completion_tokens ?? 5;
  const cap = request.max_tokens ?? request.max_completion_tokens;
  const given = cap === undefined ? wanted : Math.min(wanted, cap);
  return { prompt_tokens: prompt, completion_tokens: given, total_tokens: prompt + given, cut: given < wanted };
}

function finishReason(request: ChatRequest, reply: ScriptedReply): string {
  if (usageOf(request, reply).cut) return "length";
  return reply.finish_reason ?? (reply.tool_calls?.length ? "tool_calls" : "stop");
}
const argumentsText = (call: ScriptedToolCall) => (typeof call.arguments === "string" ? call.arguments : JSON.stringify(call.arguments));
const callId = (call: ScriptedToolCall, i: number) => call.id ?? `call_${i}`;

function wireUsage(request: ChatRequest, reply: ScriptedReply) {
  const { prompt_tokens, completion_tokens, total_tokens } = usageOf(request, reply);
  return { prompt_tokens, completion_tokens, total_tokens };
}

function completion(request: ChatRequest, reply: ScriptedReply) {
  const toolCalls = reply.tool_calls?.map((c, i) => ({ id: callId(c, i), type: "function", function: { name: c.name, arguments: argumentsText(c) } }));
  return {
    id: "chatcmpl-scripted",
    object: "chat.completion",
    created: 1_763_870_400,
    model: request.model,
    choices: [
      {
        index: 0,
        message: { role: "assistant", content: reply.text ?? null, ...(toolCalls ? { tool_calls: toolCalls } : {}) },
        finish_reason: finishReason(request, reply),
      },
    ],
    usage: wireUsage(request, reply),
  };
}

/** The SSE chunks an OpenAI server sends: role, content pieces, each tool call's name then its arguments in two pieces, the finish, the usage. */
function streamChunks(request: ChatRequest, reply: ScriptedReply): unknown[] {
  const base = { id: "chatcmpl-scripted", object: "chat.completion.chunk", created: 1_763_870_400, model: request.model };
  const chunk = (delta: unknown, finish: string | null = null) => ({ ...base, choices: [{ index: 0, delta, finish_reason: finish }] });
  const chunks: unknown[] = [chunk({ role: "assistant", content: "" })];
  const points = [...(reply.text ?? "")];
  const size = reply.chunk_size ?? 8;
  for (let i = 0; i < points.length; i += size) chunks.push(chunk({ content: points.slice(i, i + size).join("") }));
  reply.tool_calls?.forEach((c, index) => {
    const args = argumentsText(c);
    const half = Math.floor(args.length / 2);
    chunks.push(chunk({ tool_calls: [{ index, id: callId(c, index), type: "function", function: { name: c.name, arguments: args.slice(0, half) } }] }));
    chunks.push(chunk({ tool_calls: [{ index, function: { arguments: args.slice(half) } }] }));
  });
  chunks.push(chunk({}, finishReason(request, reply)));
  if (request.stream_options?.include_usage) chunks.push({ ...base, choices: [], usage: wireUsage(request, reply) });
  return chunks;
}

function streamReply(res: ServerResponse, request: ChatRequest, reply: ScriptedReply): void {
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
  const chunks = streamChunks(request, reply);
  const cut = reply.disconnect_after_chunks;
  if (reply.end_after_chunks !== undefined) {
    res.end(
      chunks
        .slice(0, reply.end_after_chunks)
        .map((c) => `data: ${JSON.stringify(c)}\n\n`)
        .join(""),
    );
    return;
  }
  if (cut === undefined && reply.chunk_delay_ms) {
    const delay = reply.chunk_delay_ms;
    const next = (i: number) => {
      if (res.destroyed) return;
      if (i === chunks.length) return void res.end("data: [DONE]\n\n");
      res.write(`data: ${JSON.stringify(chunks[i])}\n\n`);
      setTimeout(() => next(i + 1), delay);
    };
    next(0);
    return;
  }
  if (cut === undefined) {
    for (const c of chunks) res.write(`data: ${JSON.stringify(c)}\n\n`);
    res.end("data: [DONE]\n\n");
    return;
  }
  // A crash on the provider's side: the first chunks arrive, then the connection ends with no
  // finish and no [DONE] (destroyed once the chunks are flushed, so the client sees them).
  const sent = chunks
    .slice(0, cut)
    .map((c) => `data: ${JSON.stringify(c)}\n\n`)
    .join("");
  res.write(sent, () => setTimeout(() => res.socket?.destroy(), 20));
}
