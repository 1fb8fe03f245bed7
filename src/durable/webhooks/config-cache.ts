// This isolate's copy of each tenant's webhook configuration (subscriptions with their secrets,
// and the run-webhook secret), read from the tenant's WebhookOutbox when missing or stale. It is
// what keeps the outbox off a run's path: the webhook consumer matches every notice against this
// copy, and POST /runs checks a run's `webhook` against it, so the outbox sees a request per
// subscription change and per cache miss, not per run.
//
// Staleness is bounded: a copy is trusted for CONFIG_TTL_MS; a change made through this isolate's
// API drops it at once (forgetWebhookConfig); every batch the outbox records answers with its
// current version, and a copy older than that is dropped. So in another isolate a new, deleted
// or rotated subscription or secret reaches the first attempt of a notice within CONFIG_TTL_MS.
// Retries read the delivery and its secret from the outbox when due, so they are never stale.

/** A subscription as the consumer needs it: where, for what, and the secret that signs it. */
export interface ConfigSubscription {
  id: string;
  url: string;
  events: string[];
  secret: string;
}

export interface WebhookConfig {
  /** The outbox's config version when this was read (outbox-store.ts, configVersion). */
  version: number;
  subscriptions: ConfigSubscription[];
  run_secret: string | null;
}

/** How long a copy is trusted. */
export const CONFIG_TTL_MS = 5_000;
/** A notice that matches nothing in a copy older than this reads the configuration again (the copy may predate a subscription). */
const RECHECK_AFTER_MS = 1_000;
const MAX_TENANTS = 10_000;

const cache = new Map<string, { config: WebhookConfig; read_at: number }>();

/** Requests this isolate made to outboxes for their configuration, for the scale tests. */
export const configReads = { count: 0 };

async function read(env: Env, tenant: string, now: number): Promise<WebhookConfig> {
  configReads.count++;
  const config = await env.WEBHOOKS.getByName(tenant).config();
  if (cache.size >= MAX_TENANTS) cache.clear();
  cache.set(tenant, { config, read_at: now });
  return config;
}

/** The tenant's configuration: this isolate's copy when fresh, else one request to its outbox. */
export async function webhookConfig(env: Env, tenant: string, now: number): Promise<WebhookConfig> {
  const hit = cache.get(tenant);
  if (hit && now - hit.read_at < CONFIG_TTL_MS) return hit.config;
  return read(env, tenant, now);
}

/**
 * Like webhookConfig, for a caller that found nothing it needed in the copy (no subscription for
 * a notice's type, no run secret): a copy older than a second is read again, since runs only send
 * notices someone asked for and a secret once made is never removed. At most one request per
 * tenant per second per isolate however many runs ask.
 */
export async function webhookConfigAgain(env: Env, tenant: string, now: number): Promise<WebhookConfig> {
  const hit = cache.get(tenant);
  if (hit && now - hit.read_at < RECHECK_AFTER_MS) return hit.config;
  return read(env, tenant, now);
}

/** Drops the copy: the subscriptions or the secret just changed through this isolate. */
export function forgetWebhookConfig(tenant: string): void {
  cache.delete(tenant);
}

/** The outbox said its configuration is at `version`: a copy from before it is dropped. */
export function noteConfigVersion(tenant: string, version: number): void {
  const hit = cache.get(tenant);
  if (hit && hit.config.version < version) cache.delete(tenant);
}
