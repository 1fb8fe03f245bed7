// Consumer of the read-model queues (crane-read-model, crane-read-model-1, …): rows of runs still in
// flight, and runs' ends when READ_MODEL_END_ROWS is "queued" (src/durable/run/effects/read-model-queue.ts).
// Per batch, each shard gets one statement with every row for it (writeRunRows), so the statements
// D1 sees grow with batches, not with runs. Messages are acked once their shard's statement ran;
// a shard that fails has its messages retried by the queue with backoff, and the others' land. A
// row still failing after max_retries (wrangler.toml: 100, about 95 minutes of backoff) is dropped:
// the read model then shows the run's previous row until its next row or its end replaces it (a
// dropped end is not replaced: D1 failed for that long, and the run object still answers).
import { errorFields, log } from "../lib/log";
import { dbFor } from "../db/shards";
import { readModelMessageSchema, writeRunRows, type ReadModelRow } from "../db/run-rows";
import { validMessages } from "./valid-messages";

export { isReadModelQueue } from "../db/run-rows";

/**
 * Rows per statement are capped by their JSON's size, under D1's 2 MB for a bound string: a row in
 * flight is small (no steps, a prompt of at most 4,000 characters), so a full batch of 100 fits one.
 */
const MAX_STATEMENT_JSON_BYTES = 900_000;

interface ShardWork {
  db: D1Database;
  messages: Message<unknown>[];
  rows: ReadModelRow[];
}

export async function consumeReadModelRows(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const shards = new Map<D1Database, ShardWork>();
  // A bad message is dropped: the run's next row or its end replaces it.
  for (const { message, body } of validMessages(batch, readModelMessageSchema, "read_model.bad_message")) {
    let db: D1Database;
    try {
      db = dbFor(env, body.tenant);
    } catch (err) {
      // A shard configuration that does not match the bindings (ShardConfigError): the deploy fixing it will take these.
      log.error("read_model.no_shard", { id: message.id, ...errorFields(err) });
      message.retry({ delaySeconds: retryDelay(message.attempts) });
      continue;
    }
    const work = shards.get(db) ?? { db, messages: [], rows: [] };
    work.messages.push(message);
    work.rows.push(body.row);
    shards.set(db, work);
  }
  await Promise.all([...shards.values()].map(writeShard));
}

async function writeShard(work: ShardWork): Promise<void> {
  try {
    for (const rows of chunks(work.rows)) await writeRunRows(work.db, rows);
    for (const m of work.messages) m.ack();
  } catch (err) {
    // A chunk that landed lands again harmlessly: rows only move forward.
    log.error("read_model.write_failed", { rows: work.rows.length, ...errorFields(err) });
    for (const m of work.messages) m.retry({ delaySeconds: retryDelay(m.attempts) });
  }
}

/** 2, 4, 8 … seconds, at most a minute: D1 that failed a statement is given room. */
const retryDelay = (attempts: number) => Math.min(60, 2 ** Math.max(1, attempts));

function* chunks(rows: ReadModelRow[]): Generator<ReadModelRow[]> {
  let chunk: ReadModelRow[] = [];
  let bytes = 2;
  for (const row of rows) {
    // UTF-16 units × 3 bounds the UTF-8 bytes, without encoding every row to count them.
    const size = JSON.stringify(row).length * 3 + 1;
    if (chunk.length > 0 && bytes + size > MAX_STATEMENT_JSON_BYTES) {
      yield chunk;
      chunk = [];
      bytes = 2;
    }
    chunk.push(row);
    bytes += size;
  }
  if (chunk.length > 0) yield chunk;
}
