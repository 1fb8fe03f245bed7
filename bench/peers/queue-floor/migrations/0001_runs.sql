-- The floor's read model: one row per finished run, written once, off the request path.
-- WITHOUT ROWID: the primary key is the table, so the insert writes one row, not a row and an index entry.
CREATE TABLE runs (
  run_id TEXT PRIMARY KEY NOT NULL,
  workload TEXT NOT NULL,
  status TEXT NOT NULL,
  steps INTEGER NOT NULL,
  created_at TEXT NOT NULL,
  completed_at TEXT NOT NULL
) WITHOUT ROWID;
