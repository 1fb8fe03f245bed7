// The runs a breaker turned away and has promised to tell when it half-opens or closes, in its
// SQLite. The list is durable, so a crash between two batches of wakes forgets nobody: the next
// alarm goes on from the first run not yet told. Each run has a sequence number that only grows
// (AUTOINCREMENT), so a wake can say "everyone remembered up to here" and a run remembered again
// later (turned away once more while half-open) waits for the next transition.
import type { UsageMeter } from "../run/storage/usage-meter";

/** The most runs one breaker remembers; past it a refused run polls at its own retry time. */
export const MAX_WAITERS = 10_000;

/** A run whose notice failed this many times is let go: its own retry time still brings it back. */
const MAX_NOTICE_FAILURES = 3;

export interface Waiter {
  seq: number;
  run_id: string;
}

export class WaitingList {
  constructor(
    private readonly sql: SqlStorage,
    private readonly meter: UsageMeter,
  ) {
    sql.exec(`CREATE TABLE IF NOT EXISTS wait_list (seq INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL UNIQUE, failures INTEGER NOT NULL DEFAULT 0)`);
    // Breakers made before the list had sequence numbers kept `waiters (run_id)`: moved over once.
    if (sql.exec(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'waiters'`).toArray().length > 0) {
      sql.exec(`INSERT OR IGNORE INTO wait_list (run_id) SELECT run_id FROM waiters`);
      sql.exec(`DROP TABLE waiters`);
    }
  }

  count(): number {
    return this.sql.exec<{ n: number }>(`SELECT count(*) AS n FROM wait_list`).one().n;
  }

  /** The sequence of the last run remembered so far (0: none yet). */
  last(): number {
    return this.sql.exec<{ n: number | null }>(`SELECT max(seq) AS n FROM wait_list`).one().n ?? 0;
  }

  /**
   * Remembers a run, once, at the end of the list. A run already on it moves to the end with a new
   * sequence: it was turned away again (told of a half-open, it found the probe taken), so it waits
   * for the next transition; and the batch that told it, settled by sequence, cannot drop it. False
   * when the list is full and the run was not on it.
   */
  remember(runId: string): boolean {
    const moved = this.sql.exec(`DELETE FROM wait_list WHERE run_id = ?`, runId);
    this.meter.wrote(moved);
    const cursor = this.sql.exec(`INSERT INTO wait_list (run_id) SELECT ? WHERE (SELECT count(*) FROM wait_list) < ?`, runId, MAX_WAITERS);
    this.meter.wrote(cursor);
    return cursor.rowsWritten > 0;
  }

  /** The next runs to tell, oldest first, of those remembered up to `upto`. */
  next(upto: number, limit: number): Waiter[] {
    return this.sql.exec<{ seq: number; run_id: string }>(`SELECT seq, run_id FROM wait_list WHERE seq <= ? ORDER BY seq LIMIT ?`, upto, limit).toArray();
  }

  /** Whether any run remembered up to `upto` is still to be told. */
  anyUpTo(upto: number): boolean {
    return this.sql.exec(`SELECT 1 FROM wait_list WHERE seq <= ? LIMIT 1`, upto).toArray().length > 0;
  }

  /**
   * After a batch: the runs told are off the list; a run whose notice failed stays for the next
   * batch, up to MAX_NOTICE_FAILURES times. Answers the runs let go that way.
   */
  settle(told: Waiter[], failed: Waiter[]): string[] {
    const failedSeqs = new Set(failed.map((w) => w.seq));
    const done = told.filter((w) => !failedSeqs.has(w.seq)).map((w) => w.seq);
    // Two statements at most, whatever the batch's size: the ids go as one JSON array.
    if (done.length > 0) this.meter.wrote(this.sql.exec(`DELETE FROM wait_list WHERE seq IN (SELECT value FROM json_each(?))`, JSON.stringify(done)));
    if (failed.length === 0) return [];
    const ids = JSON.stringify([...failedSeqs]);
    this.meter.wrote(this.sql.exec(`UPDATE wait_list SET failures = failures + 1 WHERE seq IN (SELECT value FROM json_each(?))`, ids));
    const cursor = this.sql.exec<{ run_id: string }>(
      `DELETE FROM wait_list WHERE failures >= ? AND seq IN (SELECT value FROM json_each(?)) RETURNING run_id`,
      MAX_NOTICE_FAILURES,
      ids,
    );
    const given = cursor.toArray().map((r) => r.run_id);
    this.meter.wrote(cursor);
    return given;
  }
}
