// Queue consumer for crane-steps (and its dead-letter queue). Messages of a batch run
// concurrently: handling them one after another would serialise the DAG. Every message is acked,
// even when something failed: retries belong to the run object (its alarm), and message.retry()
// would count as a consumer failure and scale consumers down in production.
import { stepMessageSchema, type StepMessage } from "../execution/step-protocol";
import { errorFields, log } from "../lib/log";
import { continueSteps, executeStep } from "./execute-step";
import { NO_CONTINUATION, ReportBatcher, type Continuation } from "./report-batcher";
import { validMessages } from "./valid-messages";

/**
 * What one invocation takes over from the run objects it reports to (report-batcher.ts): at most
 * this many messages, for at most this long, after which next steps go by queue again. Each one
 * costs the invocation a few subrequests, well within Workers' limit per invocation.
 */
const CONTINUE_MESSAGES = 200;
const CONTINUE_MS = 30_000;

/**
 * `continuation: false`: every next step goes by queue, for tests that play the queue one message
 * at a time (test/held); the Worker's queue handler always continues.
 */
export async function consumeSteps(batch: MessageBatch<unknown>, env: Env, options: { continuation?: boolean } = {}): Promise<void> {
  const deadLettered = batch.queue.endsWith("-dlq");
  // Bad messages include those of the earlier claim-based protocol: their runs re-dispatch on their deadlines.
  const valid = validMessages(batch, stepMessageSchema, "queue.bad_message");
  // A dead-lettered message only wakes its run: it reports nothing, so it takes nothing over.
  const continues = !deadLettered && options.continuation !== false;
  const continuation: Continuation = continues ? { left: CONTINUE_MESSAGES, until: Date.now() + CONTINUE_MS } : { ...NO_CONTINUATION };
  const reporter = new ReportBatcher(
    env,
    valid.map((m) => m.body.run_id),
    continuation,
  );
  await Promise.all(
    valid.map(async ({ message, body: step }) => {
      const next = await handle(step, env, reporter, deadLettered, batch.queue, Math.max(0, Date.now() - message.timestamp.getTime()));
      // The message is done once it reported; the work its report handed over is the run's, not the message's.
      message.ack();
      await continueSteps(next, env, reporter);
    }),
  );
}

async function handle(msg: StepMessage, env: Env, reporter: ReportBatcher, deadLettered: boolean, queue: string, queueMs: number): Promise<StepMessage[]> {
  try {
    if (deadLettered) {
      reporter.finished(msg.run_id);
      await env.RUNS.getByName(msg.run_id).nudge();
      return [];
    }
    return await executeStep(msg, env, reporter, queueMs);
  } catch (err) {
    log.error("queue.step_error", { queue, run_id: msg.run_id, step: msg.step, dispatch: msg.dispatch, ...errorFields(err) });
    return [];
  }
}
