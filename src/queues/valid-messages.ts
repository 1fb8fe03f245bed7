// The first thing every consumer does with a batch: parse each message's body at the boundary. A
// body that does not parse never will (another version's producer, a hand-sent message), so it is
// logged and acked here, and the consumer sees only the messages it can act on.
import type { z } from "zod";
import { log } from "../lib/log";

export function validMessages<T>(batch: MessageBatch<unknown>, schema: z.ZodType<T>, event: string): { message: Message<unknown>; body: T }[] {
  return batch.messages.flatMap((message) => {
    const parsed = schema.safeParse(message.body);
    if (parsed.success) return [{ message, body: parsed.data }];
    log.error(event, { queue: batch.queue, id: message.id, issues: parsed.error.issues.map((i) => i.message) });
    message.ack();
    return [];
  });
}
