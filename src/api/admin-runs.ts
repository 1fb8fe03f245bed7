import { createRoute, z } from "@hono/zod-openapi";
import { allShards, dbFor } from "../db/shards";
import { ACCESS, createApi, errors, jsonResponse } from "./openapi";
import { runListSchema } from "./response-schemas";
import { historyPage, runSummary } from "./run-history";
import { listRunsQuerySchema, tenantSchema } from "./schemas";

/**
 * /admin/runs: the run history across tenants, for operators (ADMIN_TOKEN, checked where app.ts
 * mounts this). Every read-model shard is asked at once and the pages merged newest first, with
 * the same keyset cursor as GET /runs (src/api/run-history.ts); with `tenant`, only its shard.
 */
export const adminRunsApi = createApi();

const adminRunListSchema = z
  .object({
    runs: z.array(runListSchema.shape.runs.element.extend({ tenant: z.string() }).openapi("AdminRunSummary")),
    next_cursor: runListSchema.shape.next_cursor,
  })
  .openapi("AdminRunList");

const listAllRuns = createRoute({
  method: "get",
  operationId: "listAllRuns",
  path: "/runs",
  tags: ["Admin"],
  summary: "Run history of every tenant (or one), newest first, across the read model's shards",
  security: ACCESS.admin.security,
  request: { query: listRunsQuerySchema.extend({ tenant: tenantSchema.optional().describe("Only this tenant's runs (one shard)") }) },
  responses: { 200: jsonResponse(adminRunListSchema, "A page of runs"), ...errors(400), ...ACCESS.admin.responses },
});

adminRunsApi.openapi(listAllRuns, async (c) => {
  const { limit, ...filter } = c.req.valid("query");
  const shards = filter.tenant === undefined ? allShards(c.env) : [dbFor(c.env, filter.tenant)];
  const page = await historyPage(shards, filter, limit);
  return c.json({ runs: page.rows.map((r) => ({ ...runSummary(r), tenant: r.tenant })), next_cursor: page.next_cursor }, 200);
});
