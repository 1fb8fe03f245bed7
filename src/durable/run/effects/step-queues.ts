// The step queues: STEP_QUEUE_SHARDS queues carry step attempts, each run's on one of them, picked
// by FNV-1a of its id. One queue carries about 5,000 messages a second, and every run's steps went
// through one: a 9-step DAG's 8 messages put all tenants together near 600 runs a second
// (docs/architecture.md, "Scale"). Bindings are static, so queue 0 is `STEPS` (crane-steps) and queue
// i > 0 is `STEPS_i` (crane-steps-i); one Worker consumes them all, with one dead-letter queue.
// A count that does not match the bindings is refused loudly (every use throws, /health answers
// 503) rather than silently sending runs to too few queues.
//
// Changing the count moves runs to another queue: a message already on the old one is still
// consumed (every queue is), so nothing is lost; the resend check (stepQueueOldest) then looks at
// the new queue and may send a copy early, which the attempt's dispatch makes harmless.
import type { StepMessage } from "../../../execution/step-protocol";
import { queueSeries } from "../../../lib/binding-series";

/** The largest count the bindings can name; a guard against a typo. */
const MAX_STEP_QUEUES = 32;

export class StepQueueConfigError extends Error {
  override readonly name = "StepQueueConfigError";
}

const stepQueues = queueSeries<Queue<StepMessage>, StepQueueConfigError>({
  countVar: "STEP_QUEUE_SHARDS",
  // Absent: one queue, as before the count existed.
  count: (env) => env.STEP_QUEUE_SHARDS ?? "1",
  max: MAX_STEP_QUEUES,
  base: "STEPS",
  counted: "step queues",
  error: StepQueueConfigError,
});

/** Every step queue, in order; throws StepQueueConfigError when the count and the bindings disagree. */
export const allStepQueues: (env: Env) => Queue<StepMessage>[] = stepQueues.all;

/** The queue that carries this run's step attempts: the same one for every attempt of the run. */
export const stepQueueFor: (env: Env, runId: string) => Queue<StepMessage> = stepQueues.pick;
