// A schedule's recent occurrences, in its object's SQLite: what each one started (a run) or why it
// started none (skipped, missed, refused, not_started). Only the last KEPT are kept: they are the
// schedule's `recent_runs`, and an occurrence once passed never comes back (next_run_at only moves
// forward), so nothing older is needed to tell a duplicate.
import type { OccurrenceStatus, RecentRun } from "./schedule-resource";

export const KEPT = 20;

export interface Occurrence {
  scheduled_for: number;
  manual: boolean;
  run_id: string | null;
  status: OccurrenceStatus;
  error: { code: string; message: string } | null;
}

interface Row extends Record<string, SqlStorageValue> {
  scheduled_for: number;
  manual: number;
  run_id: string | null;
  status: string;
  error: string | null;
}

export class Occurrences {
  constructor(private readonly sql: SqlStorage) {}

  /** Made with the schedule, never by a request for a schedule that does not exist. */
  createTable(): void {
    this.sql.exec(
      `CREATE TABLE IF NOT EXISTS occurrences (scheduled_for INTEGER NOT NULL, manual INTEGER NOT NULL, run_id TEXT, status TEXT NOT NULL, error TEXT, PRIMARY KEY (scheduled_for, manual)) WITHOUT ROWID`,
    );
  }

  /** Records occurrences (a later record of the same one replaces it), then drops all but the newest KEPT. */
  record(...occurrences: Occurrence[]): number {
    let rows = 0;
    for (const o of occurrences)
      rows += this.sql.exec(
        `INSERT OR REPLACE INTO occurrences (scheduled_for, manual, run_id, status, error) VALUES (?, ?, ?, ?, ?)`,
        o.scheduled_for,
        o.manual ? 1 : 0,
        o.run_id,
        o.status,
        o.error ? JSON.stringify(o.error) : null,
      ).rowsWritten;
    rows += this.sql.exec(
      `DELETE FROM occurrences WHERE (scheduled_for, manual) NOT IN (SELECT scheduled_for, manual FROM occurrences ORDER BY scheduled_for DESC, manual DESC LIMIT ?)`,
      KEPT,
    ).rowsWritten;
    return rows;
  }

  /** Newest first. */
  recent(): RecentRun[] {
    return this.sql
      .exec<Row>(`SELECT scheduled_for, manual, run_id, status, error FROM occurrences ORDER BY scheduled_for DESC, manual DESC LIMIT ?`, KEPT)
      .toArray()
      .map((r) => ({
        run_id: r.run_id,
        scheduled_for: new Date(r.scheduled_for).toISOString(),
        // Written by this object from OccurrenceStatus only.
        status: r.status as OccurrenceStatus,
        manual: r.manual === 1,
        error: r.error === null ? null : (JSON.parse(r.error) as { code: string; message: string }),
      }));
  }
}
