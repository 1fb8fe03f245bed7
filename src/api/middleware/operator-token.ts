import type { Context, MiddlewareHandler } from "hono";
import { bearerAuth } from "hono/bearer-auth";
import { timingSafeEqual } from "hono/utils/buffer";
import type { AppEnv } from "../app-env";
import { ApiError } from "../errors";

/**
 * A bearer check against operator secrets (ADMIN_TOKEN, METRICS_TOKEN), with Hono's bearer-auth:
 * each configured token is compared in constant time. Every failure (no header, a malformed one,
 * a wrong token) is one 401 in our error shape; `onFailure` runs first (it may rate limit).
 */
export function operatorToken(options: {
  tokens: (env: Env) => (string | undefined)[];
  realm: string;
  code: string;
  message: string;
  onFailure?: (c: Context) => Promise<void>;
}): MiddlewareHandler<AppEnv> {
  const wwwAuthenticate = `Bearer realm="${options.realm}"`;
  // bearer-auth answers with the Response a message function returns.
  const reject = {
    wwwAuthenticateHeader: wwwAuthenticate,
    message: async (c: Context) => {
      await options.onFailure?.(c);
      return new ApiError(401, options.code, options.message, undefined, { "www-authenticate": wwwAuthenticate }).getResponse();
    },
  };
  return bearerAuth({
    realm: options.realm,
    verifyToken: async (token, c) => {
      const configured = options
        .tokens(c.env as Env)
        .map((t) => t?.trim())
        .filter((t): t is string => Boolean(t));
      // Compare with every token, so the time taken does not say which one (if any) matched.
      const matches = await Promise.all(configured.map((t) => timingSafeEqual(t, token)));
      return matches.includes(true);
    },
    noAuthenticationHeader: reject,
    invalidAuthenticationHeader: reject,
    invalidToken: reject,
  });
}
