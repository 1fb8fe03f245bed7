// The run's append-only event log in the object's SQLite. `seq` is gap-free: every event is
// last_seq + 1. Events are staged as a command emits them and written when it ends, as one row
// per command (split only when a row would grow past ROW_LIMIT_BYTES): a row written is what
// Cloudflare bills, and a command's events always commit together anyway.
//
// Schema versions: 1 kept one row per event (`events`); 2 adds `event_rows`. Logs written by
// version 1 are still read, and a run that began under it appends under version 2. The tables
// present are the version: each is created by its first write, so a new run object pays for
// the two tables it uses and nothing else, and a request for a run that does not exist writes
// nothing at all.
import { byteLength } from "../../../lib/bytes";
import { parseEvent, type RunEvent, type RunEventData, type RunEventType } from "../domain/events";

/** A page of events (GET /runs/{id}/events, a subscriber's backlog) holds about this much at most. */
const MAX_PAGE_BYTES = 2 * 1024 * 1024;
/** SQLite in Durable Objects caps a row at 2 MB; step outputs can approach 1 MiB each. */
const ROW_LIMIT_BYTES = 1_500_000;

type Row = { seq: number; type: string; at: string; data: string };
type Stored = { seq: number; type: string; at: string; data: unknown };
type Written = { rowsWritten: number };

/** The object's tables, read once when it wakes; the event log and the watch tokens consult it. */
export function tablesOf(sql: SqlStorage): Set<string> {
  return new Set(
    sql
      .exec<{ name: string }>(`SELECT name FROM sqlite_master WHERE type = 'table'`)
      .toArray()
      .map((r) => r.name),
  );
}

const CREATE = {
  event_rows: `CREATE TABLE IF NOT EXISTS event_rows (first_seq INTEGER PRIMARY KEY, last_seq INTEGER NOT NULL, events TEXT NOT NULL)`,
  // One row, rewritten in place: an update of an integer-keyed row is one row written, where a
  // replace in `meta` (keyed by text) is a delete, an insert and their index entries.
  bookkeeping: `CREATE TABLE IF NOT EXISTS bookkeeping (id INTEGER PRIMARY KEY CHECK (id = 1), value TEXT NOT NULL)`,
} as const;
const TABLES = Object.keys(CREATE) as (keyof typeof CREATE)[];
const INSERT_ROW = `INSERT INTO event_rows (first_seq, last_seq, events) VALUES (?, ?, ?)`;
const UPSERT_BOOKKEEPING = `INSERT INTO bookkeeping (id, value) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET value = excluded.value`;

export class EventLog {
  private staged: RunEvent[] = [];
  private readonly tables: Set<string>;

  constructor(
    private readonly sql: SqlStorage,
    tables: ReadonlySet<string>,
    /** Told of every statement that writes, for the usage meter. */
    private readonly onWrite: (cursor: Written) => void = () => {},
    /** Runs writes as one transaction (the object's `transactionSync`). */
    private readonly atomically: (write: () => void) => void = (write) => write(),
  ) {
    this.tables = new Set(tables);
  }

  /** Whether anything was ever written here: an object nobody created has no tables. */
  get empty(): boolean {
    return !this.tables.has("event_rows") && !this.tables.has("events");
  }

  /**
   * Runs a statement that writes to `table`, after the one that creates it the first time: SQLite
   * in a Durable Object runs both in one call (only the last may take parameters), so a run's
   * first write is one call into the runtime, not two.
   */
  private write(table: keyof typeof CREATE, statement: string, ...bindings: SqlStorageValue[]): void {
    // A run's first write creates both its tables: the bookkeeping row is written later, after its
    // projection, in a turn of its own, where creating a table cost more than the row (the profile).
    const missing = (table === "event_rows" ? TABLES : [table]).filter((t) => !this.tables.has(t));
    this.onWrite(this.sql.exec(missing.length ? `${missing.map((t) => CREATE[t]).join("; ")}; ${statement}` : statement, ...bindings));
    for (const t of missing) this.tables.add(t);
  }

  /** Stages an event; it is written by the next flush, in the same synchronous turn. */
  append<T extends RunEventType>(seq: number, type: T, data: RunEventData[T], at: string): RunEvent<T> {
    const event: RunEvent<T> = { seq, type, at, data };
    this.staged.push(event);
    return event;
  }

  /** Writes the staged events: one row, or a few when their outputs are large. */
  flush(): void {
    // Each event is serialised once: its text is measured and then joined into its row.
    const rows: string[][] = [[]];
    let bytes = 0;
    for (const event of this.staged) {
      const text = JSON.stringify(event);
      // Exact bytes only where it matters: a small event's UTF-16 length times 3 bounds its UTF-8 size.
      const size = text.length > 65_536 ? byteLength(text) : text.length * 3;
      if (bytes + size > ROW_LIMIT_BYTES && rows.at(-1)!.length > 0) {
        rows.push([]);
        bytes = 0;
      }
      rows.at(-1)!.push(text);
      bytes += size;
    }
    const staged = this.staged;
    this.staged = [];
    if (staged.length === 0) return;
    let at = 0;
    const writeRows = () => {
      for (const row of rows) {
        const first = staged[at]!.seq;
        at += row.length;
        const last = staged[at - 1]!.seq;
        this.write("event_rows", INSERT_ROW, first, last, `[${row.join(",")}]`);
      }
    };
    // One row is one statement, atomic by itself; several (large outputs) commit together or not at all.
    if (rows.length > 1) this.atomically(writeRows);
    else writeRows();
  }

  *all(): Iterable<RunEvent> {
    if (this.tables.has("events")) for (const row of this.sql.exec<Row>(`SELECT seq, type, at, data FROM events ORDER BY seq`)) yield fromRow(row);
    if (this.tables.has("event_rows"))
      for (const row of this.sql.exec<{ events: string }>(`SELECT events FROM event_rows ORDER BY first_seq`))
        yield* (JSON.parse(row.events) as Stored[]).map(parseEvent);
    yield* this.staged;
  }

  /**
   * Up to `limit` events after `seq`, and at most about `maxBytes` of them (always at least one):
   * a page of large outputs must fit the RPC answer and the HTTP response that carry it.
   */
  after(seq: number, limit: number, maxBytes = MAX_PAGE_BYTES): RunEvent[] {
    const legacy = this.tables.has("events")
      ? this.sql.exec<Row>(`SELECT seq, type, at, data FROM events WHERE seq > ? ORDER BY seq LIMIT ?`, seq, limit).toArray().map(fromRow)
      : [];
    // Every row holds at least one event, so `limit` rows hold at least `limit` events (or all).
    const rows = this.tables.has("event_rows")
      ? this.sql.exec<{ events: string }>(`SELECT events FROM event_rows WHERE last_seq > ? ORDER BY first_seq LIMIT ?`, seq, limit).toArray()
      : [];
    // Rows are read whole until the page's bytes pass `maxBytes` (measured on the stored text, never
    // serialised again); the first row always comes, so a page is never empty while events remain.
    let bytes = 0;
    const kept = rows.filter((r, i) => (bytes += byteLength(r.events)) <= maxBytes || i === 0);
    const batched = kept.flatMap((r) => (JSON.parse(r.events) as Stored[]).map(parseEvent));
    const tail = kept.length < rows.length ? [] : this.staged;
    return [...legacy, ...batched, ...tail].filter((e) => e.seq > seq).slice(0, limit);
  }

  /** The run object's own bookkeeping (projection progress, usage), saved as one row. */
  getBookkeeping(): string | undefined {
    if (!this.tables.has("bookkeeping")) return undefined;
    return this.sql.exec<{ value: string }>(`SELECT value FROM bookkeeping WHERE id = 1`).toArray()[0]?.value;
  }

  setBookkeeping(value: string): void {
    this.write("bookkeeping", UPSERT_BOOKKEEPING, value);
  }

  /** Bookkeeping as objects from before the bookkeeping row kept it (`meta`, keyed by name); only read. */
  getMeta(key: string): string | undefined {
    if (!this.tables.has("meta")) return undefined;
    return this.sql.exec<{ value: string }>(`SELECT value FROM meta WHERE key = ?`, key).toArray()[0]?.value;
  }
}

/** A version-1 row: one event, its data as JSON text. Parsed like every event read back. */
const fromRow = (row: Row): RunEvent => parseEvent({ seq: row.seq, type: row.type, at: row.at, data: JSON.parse(row.data) as unknown });
