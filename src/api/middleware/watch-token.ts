import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../app-env";
import { requireApiKey } from "./require-api-key";

/**
 * A run's WebSocket and SSE stream: an API key, or instead a watch token (`?token=`, from
 * POST /runs/{id}/watch-token) when the request has no Authorization header, since a browser
 * cannot put one on a WebSocket. The token is checked by the run object when the handler opens
 * the subscription (that run and tenant only, until it expires); one that opens nothing is 401
 * `watch_token_invalid`.
 */
export const requireApiKeyOrWatchToken = createMiddleware<AppEnv>(async (c, next) => {
  if (c.req.query("token") !== undefined && c.req.header("authorization") === undefined) return next();
  return requireApiKey(c, next);
});
