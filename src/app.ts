// The HTTP API under /api/v1 (one error shape, produced by onError and notFound), /metrics,
// the API reference at /docs, and the web console at /.
//
// Who may call what is decided by where a route is mounted. Hono runs the handlers that match a
// request in the order they were registered, and a route that answers ends the chain: so the
// groups are mounted in order, each before the checks that must not apply to it.
import { OpenAPIHono } from "@hono/zod-openapi";
import { adminKeysApi } from "./api/admin-keys";
import { adminTenantsApi } from "./api/admin-tenants";
import { adminLlmBudgetApi } from "./api/admin-llm-budget";
import { adminRunsApi } from "./api/admin-runs";
import type { AppEnv } from "./api/app-env";
import { breakersApi } from "./api/breakers";
import { bulkApi } from "./api/bulk";
import { consoleLayoutApi } from "./api/console-layout";
import { decisionPageApi } from "./api/decision-pages";
import { decisionsApi } from "./api/decisions";
import { docsPageApi, openApiJsonApi } from "./api/docs";
import { onError } from "./api/errors";
import { healthApi } from "./api/health";
import { notFoundOrWrongMethod } from "./api/method-not-allowed";
import { mcpEndpoint, mcpResourceMetadata } from "./api/mcp-endpoint";
import { mcpServersApi } from "./api/mcp-servers";
import { metricsApi } from "./api/metrics";
import { cors } from "./api/middleware/cors";
import { requireAdmin } from "./api/middleware/require-admin";
import { requireApiKey } from "./api/middleware/require-api-key";
import { buildDocument, createApi, type OpenApiDocument } from "./api/openapi";
import { plansApi } from "./api/plans";
import { rerunApi } from "./api/rerun";
import { runsApi } from "./api/runs";
import { schedulesApi } from "./api/schedules";
import { runsBatchApi } from "./api/runs-batch";
import { signalsApi } from "./api/signals";
import { watchApi, watchTokenApi } from "./api/subscriptions";
import { toolsApi } from "./api/tools";
import { webhooksApi } from "./api/webhooks";
import { consoleApp } from "./console/routes";

export const app = new OpenAPIHono<AppEnv>();
/** 404, or 405 with `Allow` when the path is a route and only the method is wrong. */
const noRoute = notFoundOrWrongMethod(() => app.routes);

const v1 = createApi();
v1.use(cors);

// Public: no credentials.
v1.route("/", healthApi);
v1.route(
  "/",
  openApiJsonApi(() => openApiDocument()),
);

// Admin: ADMIN_TOKEN. An unknown admin path ends here too (404), rather than falling through
// to the API-key check below.
v1.use("/admin/*", requireAdmin);
v1.route("/admin", adminKeysApi);
v1.route("/admin", adminTenantsApi);
v1.route("/admin", adminLlmBudgetApi);
v1.route("/admin", adminRunsApi);
v1.all("/admin/*", noRoute);

// A run's WebSocket and event stream: an API key, or a watch token (`?token=`) for browsers.
v1.route("/", watchApi);

// Everything else needs an API key, which fixes the tenant the request sees. The routes above
// answer before this check runs; every route below, and any unknown path, passes through it.
v1.use(requireApiKey);
v1.route("/", runsBatchApi);
v1.route("/", bulkApi);
v1.route("/", runsApi);
v1.route("/", rerunApi);
v1.route("/", decisionsApi);
v1.route("/", signalsApi);
v1.route("/", watchTokenApi);
v1.route("/", plansApi);
v1.route("/", toolsApi);
v1.route("/", breakersApi);
v1.route("/", schedulesApi);
v1.route("/", webhooksApi);
v1.route("/", mcpServersApi);

// The console's layout service: an API key, like the API.
const consoleApi = createApi();
consoleApi.use(requireApiKey);
consoleApi.route("/", consoleLayoutApi);

app.route("/api/v1", v1);
// Crane as an MCP server: the same API keys, checked before any MCP processing.
app.route("/mcp", mcpEndpoint);
app.route("/", mcpResourceMetadata);
app.route("/", metricsApi);
app.route("/console", consoleApi);
app.route(
  "/",
  docsPageApi(() => openApiDocument()),
);
// Decision links' pages: public, the token in the path is the credential.
app.route("/", decisionPageApi);
app.route("/", consoleApp);
app.onError(onError);
app.notFound(noRoute);

let document: OpenApiDocument | undefined;
/** The OpenAPI 3.1 document, generated once from the routes mounted above. */
export const openApiDocument = () => (document ??= buildDocument(app));
