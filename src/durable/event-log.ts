import type { RunEvent, RunEventData, RunEventType } from "./run-events";

/**
 * The run's append-only event log in the object's SQLite. `seq` is the primary key and is
 * always last_seq + 1, so the log has no gaps; the schema is created idempotently and versioned.
 */
const SCHEMA_VERSION = 1;

export class EventLog {
  constructor(private readonly sql: SqlStorage) {
    sql.exec(`CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`);
    const row = sql.exec<{ value: string }>(`SELECT value FROM meta WHERE key = 'schema_version'`).toArray()[0];
    const version = row ? Number(row.value) : 0;
    if (version < 1) {
      sql.exec(`CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, type TEXT NOT NULL, at TEXT NOT NULL, data TEXT NOT NULL)`);
    }
    if (version !== SCHEMA_VERSION) sql.exec(`INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)`, String(SCHEMA_VERSION));
  }

  append<T extends RunEventType>(seq: number, type: T, data: RunEventData[T], at: string): RunEvent<T> {
    this.sql.exec(`INSERT INTO events (seq, type, at, data) VALUES (?, ?, ?, ?)`, seq, type, at, JSON.stringify(data));
    return { seq, type, at, data };
  }

  *all(): Iterable<RunEvent> {
    for (const row of this.sql.exec<{ seq: number; type: string; at: string; data: string }>(`SELECT seq, type, at, data FROM events ORDER BY seq`)) {
      yield { seq: row.seq, type: row.type as RunEventType, at: row.at, data: JSON.parse(row.data) } as RunEvent;
    }
  }

  after(seq: number, limit: number): RunEvent[] {
    return this.sql
      .exec<{ seq: number; type: string; at: string; data: string }>(`SELECT seq, type, at, data FROM events WHERE seq > ? ORDER BY seq LIMIT ?`, seq, limit)
      .toArray()
      .map((row) => ({ seq: row.seq, type: row.type as RunEventType, at: row.at, data: JSON.parse(row.data) }) as RunEvent);
  }

  getMeta(key: string): string | undefined {
    return this.sql.exec<{ value: string }>(`SELECT value FROM meta WHERE key = ?`, key).toArray()[0]?.value;
  }

  setMeta(key: string, value: string): void {
    this.sql.exec(`INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)`, key, value);
  }
}
