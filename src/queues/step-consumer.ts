import { errorFields, log } from "../lib/log";
import { executeStep } from "./execute-step";
import { stepMessageSchema } from "./step-message";

/**
 * Queue consumer for crane-steps (and its dead-letter queue). Messages of a batch run
 * concurrently: handling them one after another would serialise the DAG. Every message is acked,
 * even when something failed: retries belong to the run object (its alarm), and message.retry()
 * would count as a consumer failure and scale consumers down in production.
 */
export async function consumeSteps(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const deadLettered = batch.queue.endsWith("-dlq");
  await Promise.all(
    batch.messages.map(async (message) => {
      const parsed = stepMessageSchema.safeParse(message.body);
      if (!parsed.success) {
        log.error("queue.bad_message", { queue: batch.queue, id: message.id, issues: parsed.error.issues.map((i) => i.message) });
        message.ack();
        return;
      }
      try {
        if (deadLettered) await env.RUNS.getByName(parsed.data.run_id).nudge();
        else await executeStep(parsed.data, env);
      } catch (err) {
        log.error("queue.step_error", { queue: batch.queue, run_id: parsed.data.run_id, step: parsed.data.step, attempt: parsed.data.attempt, ...errorFields(err) });
      }
      message.ack();
    }),
  );
}
