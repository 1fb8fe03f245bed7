/**
 * Watch tokens, kept in the run object's SQLite: random, single use, valid for TTL_MS. Only a
 * hash is stored. Browsers cannot put an Authorization header on a WebSocket, so the console
 * trades its API key for one of these and puts it in the URL, where a leaked copy is worth little.
 */
const TTL_MS = 60_000;
/** Unused tokens one run keeps at most: each is a row, and nobody needs more open at once. */
export const MAX_LIVE_TOKENS = 100;

export interface WatchToken {
  token: string;
  expires_at: string;
}

async function hash(token: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(token));
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

  /** A new token, or null when MAX_LIVE_TOKENS are already out. */
  async issue(now = Date.now()): Promise<WatchToken | null> {
    const bytes = crypto.getRandomValues(new Uint8Array(24));
    const token = `wt_${[...bytes].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
    const h = await hash(token);
    if (!this.hasTable) {
      this.sql.exec(`CREATE TABLE IF NOT EXISTS watch_tokens (hash TEXT PRIMARY KEY, expires_at INTEGER NOT NULL)`);
      this.hasTable = true;
    }
    this.sql.exec(`DELETE FROM watch_tokens WHERE expires_at <= ?`, now);
    if (this.sql.exec<{ n: number }>(`SELECT count(*) AS n FROM watch_tokens`).one().n >= MAX_LIVE_TOKENS) return null;
    this.sql.exec(`INSERT INTO watch_tokens (hash, expires_at) VALUES (?, ?)`, h, now + TTL_MS);
    return { token, expires_at: new Date(now + TTL_MS).toISOString() };
  }

  /** True once per valid token: it is deleted as it is used. */
  async redeem(token: string, now = Date.now()): Promise<boolean> {
    if (!this.hasTable || !/^wt_[0-9a-f]{48}$/.test(token)) return false;
    const h = await hash(token);
    const row = this.sql.exec<{ expires_at: number }>(`SELECT expires_at FROM watch_tokens WHERE hash = ?`, h).toArray()[0];
    if (!row) return false;
    this.sql.exec(`DELETE FROM watch_tokens WHERE hash = ?`, h);
    return row.expires_at > now;
  }
}
