import type { Context, ErrorHandler, NotFoundHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { z } from "zod";
import { errorFields, log } from "../lib/log";
import { errorBody } from "./error-shape";

/**
 * An API error: a status, a snake_case code, a message a person can act on, optional details
 * and headers (Retry-After, WWW-Authenticate). It is a Hono HTTPException whose response is our
 * error body, so anything that throws one answers in the one error shape.
 */
export class ApiError extends HTTPException {
  override name = "ApiError";
  constructor(
    status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly details?: unknown,
    readonly headers: Record<string, string> = {},
  ) {
    super(status, { message });
  }

  override getResponse(): Response {
    return Response.json(errorBody(this.code, this.message, this.details), { status: this.status, headers: this.headers });
  }
}

/** Codes for the HTTPExceptions Hono's own middleware throw without a response of ours. */
const HTTP_CODES: Partial<Record<number, string>> = { 400: "bad_request", 413: "payload_too_large", 415: "unsupported_media_type" };

function fromHttpException(err: HTTPException): HTTPException {
  // A middleware that built its own response (bearer-auth with ours) keeps it.
  if (err instanceof ApiError || err.res) return err;
  return new ApiError(err.status, HTTP_CODES[err.status] ?? "http_error", err.message || "The request could not be handled.");
}

/** A property the platform sets on its errors (Durable Object overload, a reset object). */
const flag = (err: unknown, name: "overloaded" | "retryable"): boolean =>
  typeof err === "object" && err !== null && (err as Record<string, unknown>)[name] === true;

/** workerd's refusal of an RPC argument or return value over its size limit ("Serialized RPC arguments or return values are limited to 32MiB, …"). */
const RPC_TOO_LARGE = /^Serialized RPC [a-z ]+ (?:are|is) (?:limited|too large)/i;

/**
 * The platform's own errors that are not our bug, as the answer they deserve. A Durable Object
 * that is overloaded says so (`overloaded`): the client should back off, not retry at once, so
 * 503 with a longer Retry-After. One that was reset or lost its connection (`retryable`) can be
 * asked again: 503 with a short one. An answer (or an argument) too large for RPC will not get
 * smaller by retrying: 422, asking for less.
 */
function platformError(err: unknown): ApiError | undefined {
  if (flag(err, "overloaded"))
    return new ApiError(503, "overloaded", "Crane is overloaded for this resource right now; try again after the Retry-After delay.", undefined, {
      "Retry-After": "5",
    });
  if (err instanceof Error && RPC_TOO_LARGE.test(err.message))
    return new ApiError(
      422,
      "answer_too_large",
      "The answer is larger than Crane can pass between its parts in one piece (32 MiB); ask for less, for example a smaller page of events (?limit=).",
    );
  if (flag(err, "retryable"))
    return new ApiError(503, "temporarily_unavailable", "Crane could not reach part of itself just now; the request can be repeated.", undefined, {
      "Retry-After": "1",
    });
  return undefined;
}

export const onError: ErrorHandler = (err, c) => {
  const platform = err instanceof HTTPException ? undefined : platformError(err);
  if (platform) log.warn("http.platform_error", { method: c.req.method, path: c.req.path, code: platform.code, ...errorFields(err) });
  else if (!(err instanceof HTTPException)) log.error("http.unhandled_error", { method: c.req.method, path: c.req.path, ...errorFields(err) });
  const error =
    err instanceof HTTPException
      ? fromHttpException(err)
      : (platform ?? new ApiError(500, "internal_error", "Something went wrong on our side; the error was logged."));
  const res = error.getResponse();
  // Through the context, so headers middleware already set (CORS) stay on the answer.
  return c.newResponse(res.body, res);
};

export const notFound: NotFoundHandler = (c: Context) => c.json(errorBody("not_found", `No route for ${c.req.method} ${c.req.path}.`), 404);

type Issue = z.core.$ZodIssue;
const pathOf = (i: Issue) => i.path.map((p) => (typeof p === "symbol" ? String(p) : p));

/**
 * A zod error as `details`: one entry per issue. A body that matches no branch of a union
 * (POST /runs takes a prompt or a plan) is reported as the branch it came closest to, so
 * `{"prompt": 42}` says "prompt: expected string" rather than "matches neither".
 */
export function zodDetails(error: z.ZodError): { path: (string | number)[]; code: string; message: string }[] {
  const flatten = (issues: readonly Issue[]): Issue[] =>
    issues.flatMap((i) => {
      if (i.code !== "invalid_union" || i.errors.length === 0) return [i];
      const best = Math.min(...i.errors.map((branch) => branch.length));
      const closest = i.errors.filter((branch) => branch.length === best);
      // Branches equally close say different things (`{}`: "prompt required" and "plan required"):
      // the union's own message says it better, unless they all say the same (`[]`: not an object).
      const same = new Set(closest.map((branch) => JSON.stringify(branch.map((sub) => [sub.path, sub.code, sub.message])))).size === 1;
      if (!same) return [i];
      // A branch's issues are relative to where the union sits.
      return flatten(closest[0]!).map((sub) => ({ ...sub, path: [...i.path, ...sub.path] }));
    });
  return flatten(error.issues).map((i) => ({ path: pathOf(i), code: i.code, message: i.message }));
}
