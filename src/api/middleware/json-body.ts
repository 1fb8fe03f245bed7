// In front of every route that takes a JSON body: 415 unless the body says it is JSON, 413 over
// 64 KiB (Hono's body-limit: by Content-Length when the request has one, which the runtime holds
// the body to, else by counting what it reads, never more than the cap), 400 when it is not
// UTF-8 or not JSON. The route's zod validator then checks the shape.
import { bodyLimit } from "hono/body-limit";
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../app-env";
import { ApiError } from "../errors";

export const MAX_BODY_BYTES = 64 * 1024;
const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\b/i;

const limit = bodyLimit({
  maxSize: MAX_BODY_BYTES,
  onError: (c) => {
    const declared = Number(c.req.header("content-length"));
    throw new ApiError(
      413,
      "payload_too_large",
      declared > MAX_BODY_BYTES ? `The body is ${declared} bytes; the limit is ${MAX_BODY_BYTES}.` : `The body is over the ${MAX_BODY_BYTES}-byte limit.`,
    );
  },
});

export const jsonBody = createMiddleware<AppEnv>(async (c, next) => {
  if (!JSON_TYPE.test(c.req.header("content-type") ?? "")) {
    throw new ApiError(415, "unsupported_media_type", "Send the body as JSON with Content-Type: application/json.");
  }
  return limit(c, async () => {
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(await c.req.arrayBuffer());
    } catch {
      throw new ApiError(400, "invalid_encoding", "The body is not valid UTF-8.");
    }
    try {
      // Parsed here for a clear message; the validator parses the (cached) body again, which at
      // 64 KiB at most costs little.
      JSON.parse(text);
    } catch (err) {
      throw new ApiError(400, "invalid_json", `The body is not valid JSON: ${(err as Error).message}`);
    }
    await next();
  });
});

/**
 * For routes whose JSON body may be left out (POST /runs/{id}/cancel): no body at all passes on;
 * a body is held to the same rules as jsonBody's.
 */
export const optionalJsonBody = createMiddleware<AppEnv>(async (c, next) => {
  const length = c.req.header("content-length");
  if (length !== undefined && length !== "0") return jsonBody(c, next);
  // Clients that send a JSON content type on every request send it with an empty body here too:
  // that is no body, so the route's validator (which would call it malformed JSON) is not asked.
  const text = c.req.raw.body === null ? "" : await c.req.raw.clone().text();
  if (text.length > 0) return jsonBody(c, next);
  const headers = new Headers(c.req.raw.headers);
  headers.delete("content-type");
  c.req.raw = new Request(c.req.raw.url, { method: c.req.raw.method, headers });
  return next();
});
