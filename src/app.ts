import { Hono } from "hono";
import { breakersApi } from "./api/breakers";
import { docsApi } from "./api/docs";
import { notFound, onError } from "./api/errors";
import { healthApi } from "./api/health";
import { metricsApi } from "./api/metrics";
import { plansApi } from "./api/plans";
import { runsApi } from "./api/runs";
import { subscriptionsApi } from "./api/subscriptions";
import { toolsApi } from "./api/tools";

/** The HTTP API: every route under /api/v1, one error shape produced by onError and notFound. */
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
app.get("/", (c) => c.json({ name: "crane", api: "/api/v1", health: "/api/v1/health", openapi: "/api/v1/openapi.json", docs: "/docs" }));
app.onError(onError);
app.notFound(notFound);
