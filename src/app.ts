import { Hono } from "hono";
import { breakersApi } from "./api/breakers";
import { docsApi } from "./api/docs";
import { notFound, onError } from "./api/errors";
import { healthApi } from "./api/health";
import { metricsApi } from "./api/metrics";
import { plansApi } from "./api/plans";
import { runsApi } from "./api/runs";
import { consoleApp } from "./console/routes";
import { subscriptionsApi } from "./api/subscriptions";
import { toolsApi } from "./api/tools";

/**
 * The HTTP API under /api/v1 (one error shape, produced by onError and notFound), /metrics,
 * the OpenAPI document and /docs, and the web console at /.
 */
export const app = new Hono<{ Bindings: Env }>();

const v1 = new Hono<{ Bindings: Env }>();
v1.route("/", runsApi);
v1.route("/", subscriptionsApi);
v1.route("/", plansApi);
v1.route("/", toolsApi);
v1.route("/", healthApi);
v1.route("/", breakersApi);

app.route("/api/v1", v1);
app.route("/", metricsApi);
app.route("/", docsApi);
app.route("/", consoleApp);
app.onError(onError);
app.notFound(notFound);
