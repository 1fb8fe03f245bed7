import { Hono } from "hono";
import { adminKeysApi } from "./api/admin-keys";
import type { AppEnv } from "./api/app-env";
import { breakersApi } from "./api/breakers";
import { cors } from "./api/cors";
import { docsApi } from "./api/docs";
import { notFound, onError } from "./api/errors";
import { healthApi } from "./api/health";
import { metricsApi } from "./api/metrics";
import { plansApi } from "./api/plans";
import { runsApi } from "./api/runs";
import { subscriptionsApi } from "./api/subscriptions";
import { toolsApi } from "./api/tools";
import { requireApiKey } from "./auth/require-api-key";
import { consoleApp } from "./console/routes";

/**
 * The HTTP API under /api/v1 (one error shape, produced by onError and notFound), /metrics,
 * the OpenAPI document and /docs, and the web console at /.
 *
 * Who may call what: GET /api/v1/health is open; /api/v1/admin/* needs ADMIN_TOKEN; every other
 * /api/v1 route needs an API key, which fixes the tenant the request sees. A run's WebSocket and
 * SSE stream also accept a watch token (?token=) instead, for browsers.
 */
export const app = new Hono<AppEnv>();

const isOpen = (method: string, path: string) => method === "GET" && path === "/api/v1/health";
const isAdmin = (path: string) => path.startsWith("/api/v1/admin/") || path === "/api/v1/admin";
const isTokenSubscription = (c: { req: { path: string; query: (k: string) => string | undefined; header: (k: string) => string | undefined } }) =>
  /^\/api\/v1\/runs\/[^/]+\/(ws|stream)$/.test(c.req.path) && c.req.query("token") !== undefined && c.req.header("authorization") === undefined;

const v1 = new Hono<AppEnv>();
v1.use("*", cors);
v1.use("*", async (c, next) => {
  if (c.req.method === "OPTIONS" || isOpen(c.req.method, c.req.path) || isAdmin(c.req.path) || isTokenSubscription(c)) return next();
  return requireApiKey(c, next);
});
v1.route("/", runsApi);
v1.route("/", subscriptionsApi);
v1.route("/", plansApi);
v1.route("/", toolsApi);
v1.route("/", healthApi);
v1.route("/", breakersApi);
v1.route("/", adminKeysApi);

app.route("/api/v1", v1);
app.route("/", metricsApi);
app.route("/", docsApi);
app.route("/", consoleApp);
app.onError(onError);
app.notFound(notFound);
