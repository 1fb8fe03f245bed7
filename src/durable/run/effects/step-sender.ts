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

/**
 * When the oldest message still waiting in the step queue was sent (epoch ms), null when none
 * waits, or undefined when the queue could not tell (a failed call, a runtime without queue
 * metrics): the watchdog then resends as it would have anyway. One call to the queue, made only by
 * an alarm with a resend due.
 */
export async function stepQueueOldest(queue: Queue<StepMessage>, runId: string): Promise<number | null | undefined> {
  try {
    const { backlogCount, oldestMessageTimestamp } = await queue.metrics();
    if (!backlogCount) return null;
    // A Date by the binding's types; the local broker answers epoch ms (0 when it is empty).
    const at = oldestMessageTimestamp === undefined ? NaN : new Date(oldestMessageTimestamp).getTime();
    return Number.isFinite(at) && at > 0 ? at : undefined;
  } catch (err) {
    log.warn("step.queue_metrics_unavailable", { run_id: runId, ...errorFields(err) });
    return undefined;
  }
}
