import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../app-env";
import { ApiError } from "../errors";
import { operatorToken } from "./operator-token";
import { clientAddress, enforceRateLimit } from "./rate-limit";

const adminToken = operatorToken({
  tokens: (env) => [env.ADMIN_TOKEN],
  realm: "crane-admin",
  code: "invalid_admin_token",
  message: "The admin API needs Authorization: Bearer <ADMIN_TOKEN>.",
  onFailure: (c) => enforceRateLimit(c, `admin-failures:${clientAddress(c)}`, "with a wrong admin token from this address", "failed_auth"),
});

/**
 * The admin routes: `Authorization: Bearer <ADMIN_TOKEN>`. Without an ADMIN_TOKEN the admin API
 * is off (503) rather than open. Failed attempts are rate limited per client address.
 */
export const requireAdmin = createMiddleware<AppEnv>(async (c, next) => {
  if (!c.env.ADMIN_TOKEN?.trim()) throw new ApiError(503, "admin_disabled", "The admin API is off: set the ADMIN_TOKEN secret to turn it on.");
  return adminToken(c, next);
});
