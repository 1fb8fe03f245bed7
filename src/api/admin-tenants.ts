import { createRoute, z } from "@hono/zod-openapi";
import { eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { forgetTenant } from "../auth/api-keys";
import { tenantSettings } from "../db/schema";
import { defaultRetentionDays, MAX_RETENTION_DAYS } from "../durable/run/effects/retention";
import { jsonBody } from "./middleware/json-body";
import { ACCESS, createApi, errors, jsonRequest, jsonResponse } from "./openapi";
import { isoTime } from "./response-schemas";
import { tenantSchema } from "./schemas";
import { controlDb } from "../db/shards";

/**
 * /admin/tenants/{tenant}/retention: how long a tenant's runs are kept once they ended (ADMIN_TOKEN,
 * checked where app.ts mounts this). A new value holds for runs created from then on (within the
 * 5 s the API key cache keeps a tenant's settings): a run keeps the retention it was created with.
 */
export const adminTenantsApi = createApi();

const tags = ["Admin"];
const { security } = ACCESS.admin;

const tenantParamsSchema = z.strictObject({ tenant: tenantSchema.openapi({ param: { name: "tenant", in: "path" } }) });

const retentionBodySchema = z
  .strictObject({
    days: z.number().int().min(1).max(MAX_RETENTION_DAYS).describe("Days an ended run (its events, its storage and its history row) is kept"),
  })
  .openapi("SetRetention");

const retentionSchema = z
  .object({
    tenant: z.string(),
    days: z.number().int().describe("Days an ended run is kept"),
    source: z.enum(["tenant", "default"]).describe("`tenant`: set for this tenant; `default`: RUN_RETENTION_DAYS"),
    updated_at: isoTime.nullable().describe("When it was set for this tenant (null for the default)"),
  })
  .openapi("Retention");

const path = "/tenants/{tenant}/retention";

async function retentionOf(env: Env, tenant: string): Promise<z.infer<typeof retentionSchema>> {
  const row = await drizzle(controlDb(env)).select().from(tenantSettings).where(eq(tenantSettings.tenant, tenant)).get();
  return row
    ? { tenant, days: row.run_retention_days, source: "tenant", updated_at: row.updated_at }
    : { tenant, days: defaultRetentionDays(env), source: "default", updated_at: null };
}

const getRetention = createRoute({
  method: "get",
  operationId: "getTenantRetention",
  path,
  tags,
  summary: "A tenant's run retention",
  security,
  request: { params: tenantParamsSchema },
  responses: { 200: jsonResponse(retentionSchema, "The retention its new runs get"), ...errors(400), ...ACCESS.admin.responses },
});

adminTenantsApi.openapi(getRetention, async (c) => c.json(await retentionOf(c.env, c.req.valid("param").tenant), 200));

const setRetention = createRoute({
  method: "put",
  operationId: "setTenantRetention",
  path,
  tags,
  summary: "Set a tenant's run retention (for runs created from now on)",
  middleware: jsonBody,
  security,
  request: { params: tenantParamsSchema, body: jsonRequest(retentionBodySchema, "The retention in days") },
  responses: { 200: jsonResponse(retentionSchema, "The retention its new runs get"), ...errors(400, 413, 415), ...ACCESS.admin.responses },
});

adminTenantsApi.openapi(setRetention, async (c) => {
  const { tenant } = c.req.valid("param");
  const { days } = c.req.valid("json");
  const row = { tenant, run_retention_days: days, updated_at: new Date().toISOString() };
  await drizzle(controlDb(c.env))
    .insert(tenantSettings)
    .values(row)
    .onConflictDoUpdate({ target: tenantSettings.tenant, set: { run_retention_days: days, updated_at: row.updated_at } })
    .run();
  forgetTenant(tenant);
  return c.json({ tenant, days, source: "tenant" as const, updated_at: row.updated_at }, 200);
});

const resetRetention = createRoute({
  method: "delete",
  operationId: "resetTenantRetention",
  path,
  tags,
  summary: "Give a tenant the default run retention again (idempotent)",
  security,
  request: { params: tenantParamsSchema },
  responses: { 200: jsonResponse(retentionSchema, "The retention its new runs get"), ...errors(400), ...ACCESS.admin.responses },
});

adminTenantsApi.openapi(resetRetention, async (c) => {
  const { tenant } = c.req.valid("param");
  await drizzle(controlDb(c.env)).delete(tenantSettings).where(eq(tenantSettings.tenant, tenant)).run();
  forgetTenant(tenant);
  return c.json(await retentionOf(c.env, tenant), 200);
});
