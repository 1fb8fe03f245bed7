import type { Context, ErrorHandler, NotFoundHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { z } from "zod";
import { errorFields, log } from "../lib/log";
import type { AppEnv } from "./app-env";
import { errorBody } from "./error-shape";


export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly details?: unknown,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}


export const zodDetails = (error: z.ZodError) =>
  error.issues.map((i) => ({ path: i.path.map((p) => (typeof p === "symbol" ? String(p) : p)), code: i.code, message: i.message }));

export const onError: ErrorHandler<AppEnv> = (err, c) => {
  if (err instanceof ApiError) {
    for (const [k, v] of Object.entries(err.headers)) c.header(k, v);
    return c.json(errorBody(err.code, err.message, err.details), err.status);
  }
  if (err instanceof HTTPException) {
    const status = err.status as ContentfulStatusCode;
    const code = status === 413 ? "payload_too_large" : status === 400 ? "bad_request" : "http_error";
    return c.json(errorBody(code, err.message || "The request could not be handled."), status);
  }
  if (err instanceof z.ZodError) return c.json(errorBody("validation_failed", "The request is invalid.", zodDetails(err)), 400);
  log.error("http.unhandled_error", { method: c.req.method, path: c.req.path, ...errorFields(err) });
  return c.json(errorBody("internal_error", "Something went wrong on our side; the error was logged."), 500);
};

export const notFound: NotFoundHandler = (c: Context) => c.json(errorBody("not_found", `No route for ${c.req.method} ${c.req.path}.`), 404);
