import { eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { apiKeys, tenantSettings, type ApiKeyRow } from "../db/schema";
import { sha256Hex } from "../lib/hash";
import { log } from "../lib/log";
import { sameToken } from "../lib/same-token";
import { isLocalHost } from "./local-host";
import { controlDb } from "../db/shards";

/**
 * API keys: `crane_` + 32 random bytes (base64url). D1 keeps only the secret's SHA-256, so the
 * secret is shown once, when the key is made. Looking a key up costs a D1 read; a verdict is
 * cached in this isolate for CACHE_MS, so a busy key costs one read per isolate every few seconds
 * rather than one per request. A revocation takes effect at once in the isolate that made it and
 * within CACHE_MS everywhere else.
 */
export const KEY_PREFIX = "crane_";
const CACHE_MS = 5000;
const CACHE_MAX = 10_000;
export const DEV_TENANT = "dev";

/** Who a request acts for: the tenant it is isolated to and the key (the rate-limit subject). */
export interface Principal {
  tenant: string;
  key_id: string;
  /** The tenant's run retention, when an operator set one (read with the key, in the same statement). */
  retention_days?: number;
}

type Verdict = { principal: Principal } | { rejected: "unknown" | "revoked" | "dev_key_not_local" };

const cache = new Map<string, { verdict: Verdict; until: number }>();

function remember(hash: string, verdict: Verdict): void {
  // A flood of random keys must not grow the cache without bound: drop the oldest entries.
  if (cache.size >= CACHE_MAX) for (const k of [...cache.keys()].slice(0, CACHE_MAX / 10)) cache.delete(k);
  cache.set(hash, { verdict, until: Date.now() + CACHE_MS });
}

export const hashSecret = (secret: string) => sha256Hex(`crane-api-key:${secret}`);

export function newSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return (
    KEY_PREFIX +
    btoa(String.fromCharCode(...bytes))
      .replaceAll("+", "-")
      .replaceAll("/", "_")
      .replaceAll("=", "")
  );
}

export const newKeyId = () => `key_${crypto.randomUUID().replaceAll("-", "").slice(0, 20)}`;

/**
 * The principal a bearer secret stands for. DEV_API_KEY (local development only: it is set in
 * .dev.vars, never in wrangler.toml) is the `dev` tenant's key, and only for a request that
 * reached a local host (see local-host.ts): were it deployed by mistake, it would open nothing.
 */
export async function authenticate(env: Env, secret: string, requestUrl: string): Promise<Verdict> {
  const dev = env.DEV_API_KEY?.trim();
  if (dev && sameToken(secret, dev)) {
    if (isLocalHost(requestUrl)) return devPrincipal(env);
    log.warn("auth.dev_key_refused", { host: new URL(requestUrl).host });
    return { rejected: "dev_key_not_local" };
  }
  const hash = await hashSecret(secret);
  const hit = cache.get(hash);
  if (hit && hit.until > Date.now()) return hit.verdict;
  // The tenant's settings come with the key: one statement, cached with the verdict.
  const row = await drizzle(controlDb(env))
    .select({ id: apiKeys.id, tenant: apiKeys.tenant, revoked_at: apiKeys.revoked_at, retention_days: tenantSettings.run_retention_days })
    .from(apiKeys)
    .leftJoin(tenantSettings, eq(tenantSettings.tenant, apiKeys.tenant))
    .where(eq(apiKeys.hash, hash))
    .get();
  const verdict: Verdict = !row
    ? { rejected: "unknown" }
    : row.revoked_at
      ? { rejected: "revoked" }
      : { principal: { tenant: row.tenant, key_id: row.id, ...(row.retention_days ? { retention_days: row.retention_days } : {}) } };
  remember(hash, verdict);
  return verdict;
}

/** The dev tenant's principal, with its settings read (and cached) as a key's are. */
async function devPrincipal(env: Env): Promise<Verdict> {
  const hit = cache.get(DEV_TENANT);
  if (hit && hit.until > Date.now()) return hit.verdict;
  const row = await drizzle(controlDb(env)).select().from(tenantSettings).where(eq(tenantSettings.tenant, DEV_TENANT)).get();
  const verdict: Verdict = { principal: { tenant: DEV_TENANT, key_id: "dev", ...(row ? { retention_days: row.run_retention_days } : {}) } };
  // Keyed by the tenant's name, which no key's hash (64 hex digits) can be.
  remember(DEV_TENANT, verdict);
  return verdict;
}

/** Forgets this isolate's cached verdict for a key (after it is revoked here). */
export function forgetKey(hash: string): void {
  cache.delete(hash);
}

/** Forgets this isolate's cached verdicts for a tenant's keys (after its settings changed here). */
export function forgetTenant(tenant: string): void {
  for (const [hash, { verdict }] of cache) if ("principal" in verdict && verdict.principal.tenant === tenant) cache.delete(hash);
}

/** A key as listings show it: never the hash, never the secret. */
export function keyView(row: ApiKeyRow) {
  return { id: row.id, name: row.name, tenant: row.tenant, prefix: row.prefix, created_at: row.created_at, revoked_at: row.revoked_at };
}
export type ApiKeyView = ReturnType<typeof keyView>;
