import { createMiddleware } from "hono/factory";
import { authenticate } from "../../auth/api-keys";
import { bearerToken } from "../../lib/same-token";
import type { AppEnv } from "../app-env";
import { ApiError } from "../errors";
import { clientAddress, enforceRateLimit } from "./rate-limit";

/**
 * `Authorization: Bearer <API key>`. The key decides the tenant (c.var.principal) and is the
 * subject of the per-key rate limit. Failed attempts are rate limited per client address, so
 * guessing keys is slow and bounded.
 */
const unauthorized = (code: string, message: string) => new ApiError(401, code, message, undefined, { "www-authenticate": 'Bearer realm="crane"' });

export const requireApiKey = createMiddleware<AppEnv>(async (c, next) => {
  // A CORS preflight never carries credentials: the cors middleware answers it, or it is a 404.
  if (c.req.method === "OPTIONS") return next();
  const header = c.req.header("authorization");
  const secret = bearerToken(header);
  if (!secret) {
    throw unauthorized(header ? "invalid_authorization" : "missing_api_key", "Send an API key as Authorization: Bearer <key>.");
  }
  const verdict = await authenticate(c.env, secret, c.req.url);
  if ("rejected" in verdict) {
    await enforceRateLimit(c, `auth-failures:${clientAddress(c)}`, "with invalid API keys from this address", "failed_auth");
    if (verdict.rejected === "dev_key_not_local")
      throw unauthorized(
        "dev_key_not_local",
        "DEV_API_KEY is accepted only in local development (a request to localhost, a loopback address or a .test host); use an API key from POST /api/v1/admin/keys.",
      );
    throw verdict.rejected === "revoked"
      ? unauthorized("api_key_revoked", "This API key was revoked.")
      : unauthorized("invalid_api_key", "This API key is not valid.");
  }
  await enforceRateLimit(c, `key:${verdict.principal.key_id}`, "for this API key", "api_key", verdict.principal.tenant);
  c.set("principal", verdict.principal);
  await next();
});
