import { cors as honoCors } from "hono/cors";
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../app-env";

/**
 * CORS for /api/v1, configured by CORS_ORIGINS: a comma-separated list of origins, or "*".
 * Empty (the default) adds no CORS headers, so browsers let only same-origin pages (the console)
 * read the API. Credentials are API keys in a header, never cookies, so no origin gets
 * `Access-Control-Allow-Credentials`.
 */
export function allowedOrigins(raw: string | undefined): string[] {
  return (raw ?? "")
    .split(",")
    .map((s) => s.trim().replace(/\/+$/, ""))
    .filter(Boolean);
}

export const cors = createMiddleware<AppEnv>(async (c, next) => {
  const origins = allowedOrigins(c.env.CORS_ORIGINS);
  if (origins.length === 0) return next();
  return honoCors({
    origin: (origin) => (origins.includes("*") ? "*" : origins.includes(origin) ? origin : null),
    allowMethods: ["GET", "POST", "DELETE", "OPTIONS"],
    allowHeaders: ["authorization", "content-type", "idempotency-key", "traceparent", "last-event-id"],
    exposeHeaders: ["location", "retry-after"],
    maxAge: 600,
  })(c, next);
});
