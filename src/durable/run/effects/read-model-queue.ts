// The read-model queues: how a run's rows that do not go straight to D1 reach it. A run in flight
// (its creation row after CREATION_ROW_DELAY_MS, a wait for a person, a resume, a cancel under
// way) sends its row as one message; so does its end when READ_MODEL_END_ROWS is "queued". The
// consumer (src/queues/read-model-consumer.ts) writes a batch's rows in one statement per shard.
// So such a row costs one queue message and a share of a statement, not a statement of its own
// (docs/architecture.md, "Scale"). Rows only move forward (`projected_seq`), so a queued row that
// lands after a newer one is ignored.
//
// READ_MODEL_QUEUE_SHARDS queues, each run's rows on one of them by FNV-1a of its id: one queue
// carries about 5,000 messages a second, and with queued ends a calc run sends one, an approval
// run two. By run, not by tenant, so that one busy tenant uses every queue (the consumer groups a
// batch's rows by shard whatever tenants they are from). Queue 0 is `READ_MODEL_ROWS`
// (crane-read-model), queue i > 0 `READ_MODEL_ROWS_i` (crane-read-model-i). A count that does not
// match the bindings is refused loudly (every send throws and the run's alarm retries it; /health
// answers 503). Changing it moves runs to another queue; what is on the old one is still consumed.
import type { ReadModelMessage, ReadModelRow } from "../../../db/run-rows";
import { queueSeries } from "../../../lib/binding-series";

/** The largest count the bindings can name; a guard against a typo. */
const MAX_READ_MODEL_QUEUES = 32;

export class ReadModelQueueConfigError extends Error {
  override readonly name = "ReadModelQueueConfigError";
}

const readModelQueues = queueSeries<Queue, ReadModelQueueConfigError>({
  countVar: "READ_MODEL_QUEUE_SHARDS",
  // Absent: one queue, as before the count existed.
  count: (env) => env.READ_MODEL_QUEUE_SHARDS ?? "1",
  max: MAX_READ_MODEL_QUEUES,
  base: "READ_MODEL_ROWS",
  counted: "read-model queues",
  error: ReadModelQueueConfigError,
});

/** Every read-model queue, in order; throws ReadModelQueueConfigError when the count and the bindings disagree. */
export const allReadModelQueues: (env: Env) => Queue[] = readModelQueues.all;

/** The queue that carries this run's rows: the same one for every row of the run. */
export const readModelQueueFor: (env: Env, runId: string) => Queue = readModelQueues.pick;

/**
 * Whether a run's end goes through the queue (READ_MODEL_END_ROWS "queued") rather than straight
 * to D1 ("direct", the default). Anything else is refused like a count that does not match.
 */
export function endRowsQueued(env: Env): boolean {
  const mode = (env.READ_MODEL_END_ROWS ?? "direct").trim();
  if (mode === "direct") return false;
  if (mode === "queued") return true;
  throw new ReadModelQueueConfigError(`READ_MODEL_END_ROWS must be "direct" or "queued", not "${mode}".`);
}

/**
 * A queue message holds at most 128 KB. A row in flight carries no steps and no result, so it is
 * small; an end row carries both and may not fit, and then goes straight to D1 whatever the mode.
 * The bound is on the JSON's UTF-8 bytes, with room for the envelope.
 */
const MAX_QUEUED_ROW_BYTES = 120_000;

export function rowFitsQueue(row: ReadModelRow): boolean {
  const json = JSON.stringify(row);
  // UTF-16 units × 3 bounds the UTF-8 bytes: most rows are known to fit without encoding them.
  if (json.length * 3 <= MAX_QUEUED_ROW_BYTES) return true;
  return new TextEncoder().encode(json).length <= MAX_QUEUED_ROW_BYTES;
}

/** Sends a run's row to its read-model queue; it throws when the send fails (the projector retries). */
export async function queueRow(env: Env, tenant: string, row: ReadModelRow): Promise<void> {
  const message: ReadModelMessage = { v: 1, tenant, row };
  await readModelQueueFor(env, row[0] as string).send(message);
}
