/**
 * Watch tokens, kept in the run object's SQLite: random, valid for TTL_MS. Only a hash is stored.
 * Browsers cannot put an Authorization header on a WebSocket, so the console trades its API key
 * for one of these and puts it in the URL. A token is bound to its run (it lives in that run's
 * object) and to the tenant that asked for it (the hash covers the tenant, so it stops opening
 * anything should the run's tenant ever differ). It opens the run's stream or socket as often as
 * needed until it expires: an EventSource reconnects to the same URL after a dropped connection,
 * and a token spent by the first connection would end the stream for good.
 */
export const WATCH_TOKEN_TTL_MS = 10 * 60_000;
/** Unexpired tokens one run keeps at most: each is a row, and nobody needs more open at once. */
export const MAX_LIVE_TOKENS = 100;

export interface WatchToken {
  token: string;
  expires_at: string;
}

async function hash(token: string, tenant: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(`${tenant}\n${token}`));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export class WatchTokens {
  /**
   * Created with the first token: most runs are never watched through a token, and a table made
   * for nothing is a schema write on every new run object.
   */
  private hasTable: boolean;

  constructor(
    private readonly sql: SqlStorage,
    tables: ReadonlySet<string>,
  ) {
    this.hasTable = tables.has("watch_tokens");
  }

  /** A new token for `tenant`, or null when MAX_LIVE_TOKENS unexpired ones are already out. */
  async issue(tenant: string, now = Date.now()): Promise<WatchToken | null> {
    const bytes = crypto.getRandomValues(new Uint8Array(24));
    const token = `wt_${[...bytes].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
    const h = await hash(token, tenant);
    if (!this.hasTable) {
      this.sql.exec(`CREATE TABLE IF NOT EXISTS watch_tokens (hash TEXT PRIMARY KEY, expires_at INTEGER NOT NULL)`);
      this.hasTable = true;
    }
    this.sql.exec(`DELETE FROM watch_tokens WHERE expires_at <= ?`, now);
    if (this.sql.exec<{ n: number }>(`SELECT count(*) AS n FROM watch_tokens`).one().n >= MAX_LIVE_TOKENS) return null;
    this.sql.exec(`INSERT INTO watch_tokens (hash, expires_at) VALUES (?, ?)`, h, now + WATCH_TOKEN_TTL_MS);
    return { token, expires_at: new Date(now + WATCH_TOKEN_TTL_MS).toISOString() };
  }

  /** True while `token` was issued here to `tenant` and has not expired. Reading it writes nothing. */
  async valid(token: string, tenant: string, now = Date.now()): Promise<boolean> {
    if (!this.hasTable || !/^wt_[0-9a-f]{48}$/.test(token)) return false;
    const row = this.sql.exec<{ expires_at: number }>(`SELECT expires_at FROM watch_tokens WHERE hash = ?`, await hash(token, tenant)).toArray()[0];
    return row !== undefined && row.expires_at > now;
  }
}
