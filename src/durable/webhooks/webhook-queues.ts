// The webhook queues: WEBHOOK_QUEUE_SHARDS queues carry runs' milestones (notices) to the webhook
// consumer, each run's on one of them, picked by FNV-1a of its id. One queue carries about 5,000
// messages a second, and every subscribed tenant's notices went through one: with two notices per
// approval run (its wait and its end), all tenants together stopped near 2,500 such runs a second
// whatever D1 and the objects could take (docs/architecture.md, "Scale").
//
// By run, not by tenant, so that one busy tenant uses every queue. The consumer serves each batch
// tenant by tenant (one config lookup, one `record` request to the tenant's outbox per batch): a
// tenant spread over W queues has its notices in up to W batches at once, so at a low rate its
// outbox may see up to W record requests where one would have done; at a high rate batches are
// full (100 notices) and the outbox sees the same two requests per 100 notices either way. A run's
// notices stay on one queue, in the order it sent them.
//
// Queue 0 is `WEBHOOK_NOTICES` (crane-webhooks), queue i > 0 is `WEBHOOK_NOTICES_i`
// (crane-webhooks-i); one Worker consumes them all. The consumer's own retries go to the one
// WEBHOOK_RETRIES binding (crane-webhooks): they exist only while a receiver fails, each waits out
// its delay, and a binding of their own lets the tests hold them. A count that does not match the
// bindings is refused loudly (every send throws and is retried by the run's alarm; /health
// answers 503) rather than silently using too few queues.
//
// Changing the count moves runs to another queue: a notice already on the old one is still
// consumed (every queue is), and a notice sent twice is recorded once, so nothing is lost.
import { isSeriesQueue, queueSeries } from "../../lib/binding-series";

/** The largest count the bindings can name; a guard against a typo. */
const MAX_WEBHOOK_QUEUES = 32;

/** Whether a batch comes from one of the webhook queues (crane-webhooks, crane-webhooks-1, …): the Worker's queue handler dispatches on it. */
export const isWebhookQueue = (name: string): boolean => isSeriesQueue("crane-webhooks", name);

export class WebhookQueueConfigError extends Error {
  override readonly name = "WebhookQueueConfigError";
}

const webhookQueues = queueSeries<Queue, WebhookQueueConfigError>({
  countVar: "WEBHOOK_QUEUE_SHARDS",
  // Absent: one queue, as before the count existed.
  count: (env) => env.WEBHOOK_QUEUE_SHARDS ?? "1",
  max: MAX_WEBHOOK_QUEUES,
  base: "WEBHOOK_NOTICES",
  counted: "webhook queues",
  error: WebhookQueueConfigError,
});

/** Every webhook queue, in order; throws WebhookQueueConfigError when the count and the bindings disagree. */
export const allWebhookQueues: (env: Env) => Queue[] = webhookQueues.all;

/** The queue that carries this run's notices: the same one for every notice of the run. */
export const webhookQueueFor: (env: Env, runId: string) => Queue = webhookQueues.pick;
