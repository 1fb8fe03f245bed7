// The read-model queue: how a run's rows that are not its last reach D1. A run in flight (its
// creation row after CREATION_ROW_DELAY_MS, a wait for a person, a resume, a cancel under way)
// sends its row as one message; the consumer (src/queues/read-model-consumer.ts) writes a batch's
// rows in one statement per shard. So such a row costs one queue message and a share of a
// statement, not a statement of its own, and a run that waits writes one statement of its own in
// all: its end, which goes straight to D1 (docs/architecture.md, "Scale"). Rows only move forward
// (`projected_seq`), so a queued row that lands after the end's is ignored.
import type { ReadModelMessage, ReadModelRow } from "../../../db/run-rows";

/** Sends a run's row to the read-model queue; it throws when the send fails (the projector retries). */
export async function queueRow(queue: Queue, tenant: string, row: ReadModelRow): Promise<void> {
  const message: ReadModelMessage = { v: 1, tenant, row };
  await queue.send(message);
}
