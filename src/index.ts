/**
 * Crane's Worker. It exposes:
 * - the HTTP API under /api/v1 (Hono, src/app.ts),
 * - the consumer of the crane-steps queue and its dead-letter queue (src/queues/),
 * - the Durable Object classes (src/durable/): RunObject, one per run; ToolBreaker, one per tenant
 *   and tool; TenantLimiter, one per tenant (its runs in flight); BulkJob, one per bulk job
 *   (POST /runs/bulk).
 */
import { app } from "./app";
import { consumeSteps } from "./queues/step-consumer";

export { RunObject } from "./durable/run/run-object";
export { ToolBreaker } from "./durable/breaker/tool-breaker";
export { TenantLimiter } from "./durable/tenant/tenant-limiter";
export { BulkJob } from "./durable/bulk/bulk-job";

export default {
  fetch: app.fetch,
  queue: (batch, env) => consumeSteps(batch, env),
} satisfies ExportedHandler<Env>;
