/**
 * Crane's Worker. It exposes:
 * - the HTTP API under /api/v1 (Hono, src/app.ts),
 * - the consumer of the step queues (crane-steps, crane-steps-1, …: STEP_QUEUE_SHARDS) and their
 *   dead-letter queue, of the webhook queues (crane-webhooks, crane-webhooks-1, …:
 *   WEBHOOK_QUEUE_SHARDS, by run; runs' milestones, signed and POSTed to their subscribers),
 *   and of the read-model queues (crane-read-model, crane-read-model-1, …: READ_MODEL_QUEUE_SHARDS;
 *   rows of runs in flight, and ends when READ_MODEL_END_ROWS is "queued", written to D1 a batch at a time)
 *   (src/queues/),
 * - the metric rollup and the retention sweep, on a Cron Trigger (src/scheduled/),
 * - the Durable Object classes (src/durable/): RunObject, one per run; ToolBreaker, one per tenant
 *   and tool; TenantLimiter, one per tenant (its runs in flight); ScheduleObject, one per schedule
 *   (its alarm starts the schedule's runs); WebhookOutbox, one per tenant (its webhook
 *   subscriptions and the record of their deliveries); BulkJob, one per bulk job (POST /runs/bulk).
 */
import { app } from "./app";
import { consumeSteps } from "./queues/step-consumer";
import { consumeWebhooks } from "./queues/webhook-consumer";
import { isWebhookQueue } from "./durable/webhooks/webhook-queues";
import { consumeReadModelRows, isReadModelQueue } from "./queues/read-model-consumer";
import { scheduled } from "./scheduled/scheduled";

export { RunObject } from "./durable/run/run-object";
export { ToolBreaker } from "./durable/breaker/tool-breaker";
export { TenantLimiter } from "./durable/tenant/tenant-limiter";
export { ScheduleObject } from "./durable/schedule/schedule-object";
export { WebhookOutbox } from "./durable/webhooks/webhook-outbox";
export { BulkJob } from "./durable/bulk/bulk-job";
export { LlmBudget } from "./durable/llm-budget/llm-budget";

export default {
  fetch: app.fetch,
  queue: (batch, env) =>
    isWebhookQueue(batch.queue) ? consumeWebhooks(batch, env) : isReadModelQueue(batch.queue) ? consumeReadModelRows(batch, env) : consumeSteps(batch, env),
  scheduled: (controller, env) => scheduled(env, controller.scheduledTime),
} satisfies ExportedHandler<Env>;
