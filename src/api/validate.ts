import type { Context } from "hono";
import type { z } from "zod";
import { readCapped } from "../lib/read-capped";
import { ApiError, zodDetails } from "./errors";

/**
 * Request bodies and queries pass through here and nowhere else: size-capped, parsed as JSON
 * with a clear 4xx when they are not, and validated by a zod schema (unknown fields rejected).
 */
export const MAX_BODY_BYTES = 64 * 1024;

async function readBody(c: Context): Promise<string> {
  const declared = Number(c.req.header("content-length") ?? "0");
  if (declared > MAX_BODY_BYTES) throw new ApiError(413, "payload_too_large", `The body is ${declared} bytes; the limit is ${MAX_BODY_BYTES}.`);
  const bytes = await readCapped(c.req.raw.body, MAX_BODY_BYTES);
  if (!bytes) throw new ApiError(413, "payload_too_large", `The body is over the ${MAX_BODY_BYTES}-byte limit.`);
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new ApiError(400, "invalid_encoding", "The body is not valid UTF-8.");
  }
}

export async function jsonBody<S extends z.ZodType>(c: Context, schema: S): Promise<z.output<S>> {
  const type = c.req.header("content-type") ?? "";
  if (!/^application\/(?:[\w.+-]+\+)?json\b/i.test(type)) {
    throw new ApiError(415, "unsupported_media_type", "Send the body as JSON with Content-Type: application/json.");
  }
  const text = await readBody(c);
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new ApiError(400, "invalid_json", `The body is not valid JSON: ${(err as Error).message}`);
  }
  const parsed = schema.safeParse(data);
  if (!parsed.success) throw new ApiError(400, "validation_failed", "The request body is invalid.", zodDetails(parsed.error));
  return parsed.data;
}

export function query<S extends z.ZodType>(c: Context, schema: S): z.output<S> {
  const parsed = schema.safeParse(c.req.query());
  if (!parsed.success) throw new ApiError(400, "invalid_query", "The query parameters are invalid.", zodDetails(parsed.error));
  return parsed.data;
}
