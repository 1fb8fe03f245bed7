import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../api/app-env";
import { ApiError } from "../api/errors";
import { sameToken } from "../lib/same-token";
import { enforceRateLimit } from "./rate-limit";

/**
 * The admin routes: `Authorization: Bearer <ADMIN_TOKEN>`, compared in constant time. Without an
 * ADMIN_TOKEN the admin API is off (503) rather than open. Failed attempts are rate limited per
 * client address.
 */
export const requireAdmin = createMiddleware<AppEnv>(async (c, next) => {
  const token = c.env.ADMIN_TOKEN?.trim();
  if (!token) throw new ApiError(503, "admin_disabled", "The admin API is off: set the ADMIN_TOKEN secret to turn it on.");
  if (!sameToken(c.req.header("authorization") ?? "", `Bearer ${token}`)) {
    await enforceRateLimit(c.env, `admin-failures:${c.req.header("cf-connecting-ip") ?? "unknown"}`, "with a wrong admin token from this address");
    throw new ApiError(401, "invalid_admin_token", "The admin API needs Authorization: Bearer <ADMIN_TOKEN>.", undefined, { "www-authenticate": 'Bearer realm="crane-admin"' });
  }
  await next();
});
