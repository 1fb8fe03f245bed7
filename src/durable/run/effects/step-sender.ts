// Sends a command's step messages to the queue, after the command has written the events that
// call for them. A message that never arrives is a lease the watchdog takes back, so a failed send
// is logged, not retried here.
import type { StepMessage } from "../../../execution/step-protocol";
import { jsonBytes } from "../../../lib/bytes";
import { errorFields, log } from "../../../lib/log";

/** Queues' limits on one sendBatch, with room for the envelope. */
const MAX_BATCH_MESSAGES = 100;
const MAX_BATCH_BYTES = 240 * 1024;

/** Splits messages into batches under the queue's count and byte limits (bytes, not characters). */
export function batches(messages: readonly StepMessage[]): StepMessage[][] {
  const out: StepMessage[][] = [];
  let size = Infinity;
  for (const m of messages) {
    const bytes = jsonBytes(m);
    if (size + bytes > MAX_BATCH_BYTES || out.at(-1)!.length >= MAX_BATCH_MESSAGES) {
      out.push([]);
      size = 0;
    }
    out.at(-1)!.push(m);
    size += bytes;
  }
  return out;
}

export async function sendSteps(queue: Queue<StepMessage>, runId: string, messages: readonly StepMessage[]): Promise<void> {
  await Promise.all(
    batches(messages).map(async (batch) => {
      try {
        await queue.sendBatch(batch.map((body) => ({ body, contentType: "json" })));
      } catch (err) {
        // The steps hold leases; when they expire the alarm dispatches them again.
        log.error("step.send_failed", { run_id: runId, steps: batch.map((s) => s.step), ...errorFields(err) });
      }
    }),
  );
}
