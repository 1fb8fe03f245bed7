// Queue consumer for crane-steps (and its dead-letter queue). Messages of a batch run
// concurrently: handling them one after another would serialise the DAG. Every message is acked,
// even when something failed: retries belong to the run object (its alarm), and message.retry()
// would count as a consumer failure and scale consumers down in production.
import { stepMessageSchema, type StepMessage } from "../execution/step-protocol";
import { errorFields, log } from "../lib/log";
import { executeStep } from "./execute-step";
import { ReportBatcher } from "./report-batcher";

export async function consumeSteps(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const deadLettered = batch.queue.endsWith("-dlq");
  const parsed = batch.messages.map((message) => ({ message, step: stepMessageSchema.safeParse(message.body) }));
  const valid = parsed.flatMap((p) => (p.step.success ? [p.step.data] : []));
  const reporter = new ReportBatcher(
    env,
    valid.map((m) => m.run_id),
  );
  await Promise.all(
    parsed.map(async ({ message, step }) => {
      if (!step.success) {
        // Includes messages of the earlier claim-based protocol: their runs re-dispatch on their deadlines.
        log.error("queue.bad_message", { queue: batch.queue, id: message.id, issues: step.error.issues.map((i) => i.message) });
        message.ack();
        return;
      }
      await handle(step.data, env, reporter, deadLettered, batch.queue, Math.max(0, Date.now() - message.timestamp.getTime()));
      message.ack();
    }),
  );
}

async function handle(msg: StepMessage, env: Env, reporter: ReportBatcher, deadLettered: boolean, queue: string, queueMs: number): Promise<void> {
  try {
    if (deadLettered) {
      reporter.finished(msg.run_id);
      await env.RUNS.getByName(msg.run_id).nudge();
    } else {
      await executeStep(msg, env, reporter, queueMs);
    }
  } catch (err) {
    log.error("queue.step_error", { queue, run_id: msg.run_id, step: msg.step, dispatch: msg.dispatch, ...errorFields(err) });
  }
}
