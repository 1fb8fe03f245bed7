import { createRoute } from "@hono/zod-openapi";
import { and, desc, eq, isNull, type SQL } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { forgetKey, hashSecret, keyView, newKeyId, newSecret } from "../auth/api-keys";
import { apiKeys } from "../db/schema";
import { ApiError } from "./errors";
import { jsonBody } from "./middleware/json-body";
import { ACCESS, createApi, errors, jsonRequest, jsonResponse } from "./openapi";
import { apiKeyListSchema, createdKeySchema, revokedKeySchema } from "./response-schemas";
import { createKeyBodySchema, KEY_ID, keyIdParamsSchema, listKeysQuerySchema } from "./schemas";
import { controlDb } from "../db/shards";

/** /admin/keys: make, list and revoke API keys (ADMIN_TOKEN, checked where app.ts mounts this). A new key's secret is shown once. */
export const adminKeysApi = createApi();

const tags = ["Admin"];
const { security } = ACCESS.admin;

const createKey = createRoute({
  method: "post",
  operationId: "createApiKey",
  path: "/keys",
  tags,
  summary: "Make an API key for a tenant; its secret is in this response only",
  middleware: jsonBody,
  security,
  request: { body: jsonRequest(createKeyBodySchema, "The key's name and tenant") },
  responses: {
    201: {
      ...jsonResponse(createdKeySchema, "The key and its secret"),
      headers: { Location: { description: "The key's URL", required: true, schema: { type: "string" } } },
    },
    ...errors(400, 413, 415),
    ...ACCESS.admin.responses,
  },
});

adminKeysApi.openapi(createKey, async (c) => {
  const body = c.req.valid("json");
  const secret = newSecret();
  const row = {
    id: newKeyId(),
    name: body.name,
    tenant: body.tenant,
    hash: await hashSecret(secret),
    prefix: secret.slice(0, 12),
    created_at: new Date().toISOString(),
    revoked_at: null,
  };
  await drizzle(controlDb(c.env)).insert(apiKeys).values(row).run();
  // The secret exists only in this response: keep it out of every cache on the way.
  c.header("cache-control", "no-store");
  c.header("location", `/api/v1/admin/keys/${row.id}`);
  return c.json({ key: keyView(row), secret }, 201);
});

const listKeys = createRoute({
  method: "get",
  operationId: "listApiKeys",
  path: "/keys",
  tags,
  summary: "API keys (never their secrets), newest first",
  security,
  request: { query: listKeysQuerySchema },
  responses: { 200: jsonResponse(apiKeyListSchema, "Keys"), ...errors(400), ...ACCESS.admin.responses },
});

adminKeysApi.openapi(listKeys, async (c) => {
  const q = c.req.valid("query");
  const where: (SQL | undefined)[] = [];
  if (q.tenant) where.push(eq(apiKeys.tenant, q.tenant));
  if (q.include_revoked === "false") where.push(isNull(apiKeys.revoked_at));
  const rows = await drizzle(controlDb(c.env))
    .select()
    .from(apiKeys)
    .where(and(...where))
    .orderBy(desc(apiKeys.created_at))
    .limit(q.limit)
    .all();
  return c.json({ keys: rows.map(keyView) }, 200);
});

/** Revoking is idempotent: a key already revoked keeps its first revocation time. */
const revokeKey = createRoute({
  method: "delete",
  operationId: "revokeApiKey",
  path: "/keys/{key_id}",
  tags,
  summary: "Revoke an API key (idempotent)",
  security,
  request: { params: keyIdParamsSchema },
  responses: { 200: jsonResponse(revokedKeySchema, "The revoked key"), ...errors(404), ...ACCESS.admin.responses },
});

adminKeysApi.openapi(revokeKey, async (c) => {
  const { key_id: id } = c.req.valid("param");
  const notFound = new ApiError(404, "key_not_found", `No API key has id "${id}".`);
  if (!KEY_ID.test(id)) throw notFound;
  const db = drizzle(controlDb(c.env));
  await db
    .update(apiKeys)
    .set({ revoked_at: new Date().toISOString() })
    .where(and(eq(apiKeys.id, id), isNull(apiKeys.revoked_at)))
    .run();
  const row = await db.select().from(apiKeys).where(eq(apiKeys.id, id)).get();
  if (!row) throw notFound;
  forgetKey(row.hash);
  return c.json({ key: keyView(row) }, 200);
});
