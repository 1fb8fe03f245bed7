/**
 * Crane's Worker. It exposes:
 * - the HTTP API under /api/v1 (Hono, src/app.ts),
 * - the consumer of the crane-steps queue and its dead-letter queue (src/queues/),
 * - the RunObject Durable Object class, one per run, and ToolBreaker, one per tool (src/durable/).
 */
import { app } from "./app";
import { consumeSteps } from "./queues/step-consumer";

export { RunObject } from "./durable/run-object";
export { ToolBreaker } from "./durable/tool-breaker";

export default {
  fetch: app.fetch,
  queue: (batch, env) => consumeSteps(batch, env),
} satisfies ExportedHandler<Env>;
