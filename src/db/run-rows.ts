// Writes to the read model's `runs` table (src/db/schema.ts): a run's row as an ordered list of
// values, written one at a time (a run's end, by its run object) or many in one statement (rows of
// runs in flight, by the read-model queue's consumer), and the message that carries a row on that
// queue. Both writes only move a row forward (`projected_seq`), so replays and late rows are harmless.
import { z } from "zod";
import { isSeriesQueue } from "../lib/binding-series";

/** The columns written, in the order of the statement's parameters (`runs` in src/db/schema.ts). */
export const READ_MODEL_COLUMNS = [
  "run_id",
  "tenant",
  "prompt",
  "status",
  "planner",
  "fallback_reason",
  "step_count",
  "result",
  "error_code",
  "error_message",
  "created_at",
  "started_at",
  "completed_at",
  "projected_seq",
  "steps",
  "schedule_id",
  "scheduled_for",
  "expires_at",
  "tools",
  "rerun_of",
] as const;

/** The row's key: the unique (tenant, created_at, run_id) index the lists walk, so no index of its own (src/db/schema.ts). */
const KEY = ["run_id", "tenant", "created_at"];

/** The upsert's update: every column but the key (an index is written again only when a column of it is assigned), and D1's time. */
const UPDATE = `ON CONFLICT (tenant, created_at, run_id) DO UPDATE SET ${[...READ_MODEL_COLUMNS.filter((c) => !KEY.includes(c)), "projected_at"]
  .map((c) => `${c} = excluded.${c}`)
  .join(", ")}
WHERE runs.projected_seq < excluded.projected_seq`;

/**
 * One upsert with bound parameters, its text built once per isolate: drizzle's builder rebuilt
 * and mapped it on every projection (10 % of a calc run's CPU, docs/architecture.md). The row
 * only moves forward (`projected_seq`). A run id used again after its run was deleted by retention
 * (an Idempotency-Key) is another run with another `created_at`: its own row, beside the old one
 * until the sweep takes that. `projected_at` is D1's clock.
 */
const UPSERT = `INSERT INTO runs (${READ_MODEL_COLUMNS.join(", ")}, projected_at) VALUES (${READ_MODEL_COLUMNS.map(() => "?").join(", ")}, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
${UPDATE}`;

/** The same upsert over a JSON array of rows (`json_each`); `WHERE true` is how SQLite parses an upsert after a SELECT. */
const ROWS_UPSERT = `INSERT INTO runs (${READ_MODEL_COLUMNS.join(", ")}, projected_at) SELECT ${READ_MODEL_COLUMNS.map((_, i) => `json_extract(value, '$[${i}]')`).join(", ")}, strftime('%Y-%m-%dT%H:%M:%fZ', 'now') FROM json_each(?) WHERE true
${UPDATE}`;

/** A run's row as values in READ_MODEL_COLUMNS' order (strings, numbers, nulls). */
export type ReadModelRow = (string | number | null)[];

/** Returns what the write cost in D1: statements run and rows written. */
export async function writeRunRow(db: D1Database, row: ReadModelRow): Promise<{ statements: number; rows_written: number }> {
  const result = await db
    .prepare(UPSERT)
    .bind(...row)
    .run();
  return { statements: 1, rows_written: result.meta.rows_written ?? 0 };
}

/**
 * Many runs' rows in one statement: they travel as one JSON parameter (D1 binds at most 100
 * parameters, five rows' worth), and the forward-only rule holds row by row, so rows of one run in
 * any order, or a row older than what a run's end already wrote, leave the newest.
 */
export async function writeRunRows(db: D1Database, rows: readonly ReadModelRow[]): Promise<{ statements: number; rows_written: number }> {
  const result = await db.prepare(ROWS_UPSERT).bind(JSON.stringify(rows)).run();
  return { statements: 1, rows_written: result.meta.rows_written ?? 0 };
}

/** Whether a batch comes from one of the read-model queues (crane-read-model, crane-read-model-1, …): the Worker's queue handler dispatches on it. */
export const isReadModelQueue = (name: string): boolean => isSeriesQueue("crane-read-model", name);

/** A row on the read-model queue, with its tenant, which picks its shard. */
export const readModelMessageSchema = z.object({
  v: z.literal(1),
  tenant: z.string().min(1),
  row: z.array(z.union([z.string(), z.number(), z.null()])).length(READ_MODEL_COLUMNS.length),
});
export type ReadModelMessage = z.infer<typeof readModelMessageSchema>;
