import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../api/app-env";
import { ApiError } from "../api/errors";
import { bearerToken } from "../lib/same-token";
import { authenticate } from "./api-keys";
import { enforceRateLimit } from "./rate-limit";

/**
 * Every /api/v1 route but GET /health and the admin routes: `Authorization: Bearer <API key>`.
 * The key decides the tenant (c.var.principal) and is the subject of the per-key rate limit.
 * Failed attempts are rate limited per client address, so guessing keys is slow and bounded.
 */
const unauthorized = (code: string, message: string) => new ApiError(401, code, message, undefined, { "www-authenticate": 'Bearer realm="crane"' });

export const requireApiKey = createMiddleware<AppEnv>(async (c, next) => {
  const header = c.req.header("authorization");
  const secret = bearerToken(header);
  if (!secret) {
    throw unauthorized(header ? "invalid_authorization" : "missing_api_key", "Send an API key as Authorization: Bearer <key>.");
  }
  const verdict = await authenticate(c.env, secret);
  if ("rejected" in verdict) {
    await enforceRateLimit(c.env, `auth-failures:${c.req.header("cf-connecting-ip") ?? "unknown"}`, "with invalid API keys from this address");
    throw verdict.rejected === "revoked" ? unauthorized("api_key_revoked", "This API key was revoked.") : unauthorized("invalid_api_key", "This API key is not valid.");
  }
  await enforceRateLimit(c.env, `key:${verdict.principal.key_id}`, "for this API key");
  c.set("principal", verdict.principal);
  await next();
});
