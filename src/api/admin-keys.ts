import { and, desc, eq, isNull, type SQL } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { Hono } from "hono";
import { forgetKey, hashSecret, keyView, newKeyId, newSecret } from "../auth/api-keys";
import { requireAdmin } from "../auth/require-admin";
import { apiKeys } from "../db/schema";
import type { AppEnv } from "./app-env";
import { ApiError } from "./errors";
import { createKeyBodySchema, KEY_ID, listKeysQuerySchema } from "./schemas";
import { jsonBody, query } from "./validate";

/** /admin/keys: make, list and revoke API keys (ADMIN_TOKEN). A new key's secret is shown once. */
export const adminKeysApi = new Hono<AppEnv>();
adminKeysApi.use("/admin/*", requireAdmin);

adminKeysApi.post("/admin/keys", async (c) => {
  const body = await jsonBody(c, createKeyBodySchema);
  const secret = newSecret();
  const row = { id: newKeyId(), name: body.name, tenant: body.tenant, hash: await hashSecret(secret), prefix: secret.slice(0, 12), created_at: new Date().toISOString(), revoked_at: null };
  await drizzle(c.env.DB).insert(apiKeys).values(row).run();
  // The secret exists only in this response: keep it out of every cache on the way.
  c.header("cache-control", "no-store");
  c.header("location", `/api/v1/admin/keys/${row.id}`);
  return c.json({ key: keyView(row), secret }, 201);
});

adminKeysApi.get("/admin/keys", async (c) => {
  const q = query(c, listKeysQuerySchema);
  const where: (SQL | undefined)[] = [];
  if (q.tenant) where.push(eq(apiKeys.tenant, q.tenant));
  if (q.include_revoked === "false") where.push(isNull(apiKeys.revoked_at));
  const rows = await drizzle(c.env.DB).select().from(apiKeys).where(and(...where)).orderBy(desc(apiKeys.created_at)).limit(q.limit).all();
  return c.json({ keys: rows.map(keyView) });
});

/** Revoking is idempotent: a key already revoked keeps its first revocation time. */
adminKeysApi.delete("/admin/keys/:key_id", async (c) => {
  const id = c.req.param("key_id");
  const notFound = new ApiError(404, "key_not_found", `No API key has id "${id}".`);
  if (!KEY_ID.test(id)) throw notFound;
  const db = drizzle(c.env.DB);
  await db.update(apiKeys).set({ revoked_at: new Date().toISOString() }).where(and(eq(apiKeys.id, id), isNull(apiKeys.revoked_at))).run();
  const row = await db.select().from(apiKeys).where(eq(apiKeys.id, id)).get();
  if (!row) throw notFound;
  forgetKey(row.hash);
  return c.json({ key: keyView(row) });
});
