import { eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { apiKeys, type ApiKeyRow } from "../db/schema";
import { sha256Hex } from "../lib/hash";
import { sameToken } from "../lib/same-token";

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
}

type Verdict = { principal: Principal } | { rejected: "unknown" | "revoked" };

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
 * .dev.vars, never in wrangler.toml) is the `dev` tenant's key.
 */
export async function authenticate(env: Env, secret: string): Promise<Verdict> {
  const dev = env.DEV_API_KEY?.trim();
  if (dev && sameToken(secret, dev)) return { principal: { tenant: DEV_TENANT, key_id: "dev" } };
  const hash = await hashSecret(secret);
  const hit = cache.get(hash);
  if (hit && hit.until > Date.now()) return hit.verdict;
  const row = await drizzle(env.DB).select().from(apiKeys).where(eq(apiKeys.hash, hash)).get();
  const verdict: Verdict = !row ? { rejected: "unknown" } : row.revoked_at ? { rejected: "revoked" } : { principal: { tenant: row.tenant, key_id: row.id } };
  remember(hash, verdict);
  return verdict;
}

/** Forgets this isolate's cached verdict for a key (after it is revoked here). */
export function forgetKey(hash: string): void {
  cache.delete(hash);
}

/** A key as listings show it: never the hash, never the secret. */
export function keyView(row: ApiKeyRow) {
  return { id: row.id, name: row.name, tenant: row.tenant, prefix: row.prefix, created_at: row.created_at, revoked_at: row.revoked_at };
}
export type ApiKeyView = ReturnType<typeof keyView>;
