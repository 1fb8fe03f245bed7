// What a queue tool does, as opposed to what it is (its spec, `tool.ts`). A spec is what the
// planner, the API and the run's domain read; an implementation does the I/O (D1, fetch, an MCP
// server) and is imported only by the queue consumer, through `implementations.ts`. Keeping the
// two in separate modules is what keeps the decider's imports pure (test/node/domain-imports.test.ts).
import type { z } from "zod";
import type { SpanData } from "../lib/otel/span";
import type { QueueTool, ToolResult } from "./tool";

/** What a queue tool learns about the step it runs for. */
export interface ToolContext {
  env: Env;
  run_id: string;
  /** The run's tenant: tools with stored state (TodoStore) keep each tenant's apart. */
  tenant: string;
  step_number: number;
  attempt: number;
  /** The dispatch this attempt is (the seq of the event that began it): what reports to the run name. */
  dispatch: number;
  /** Aborted when the step's timeout passes; tools pass it on to their I/O. */
  signal: AbortSignal;
  /** The step's timeout, for I/O that takes a timeout of its own (an MCP request). */
  timeout_ms: number;
  /** Stable per (run, step) across attempts: side effects keyed by it happen once. */
  idempotency_key: string;
  /** The run's trace and this attempt's span, for outbound `traceparent` headers. */
  trace_id: string;
  span_id: string;
  /** Where a tool records spans of its own (outbound requests), when spans are exported. */
  spans?: { record(span: SpanData): void };
  /** False: no client was watching the run when the attempt was sent (a model call then does not stream). */
  watched?: boolean;
}

/** A queue tool the consumer can run: its spec, and what it does. */
export interface QueueToolImpl<S extends z.ZodType = z.ZodType> extends QueueTool<S> {
  execute(input: z.output<S>, ctx: ToolContext): Promise<ToolResult>;
  /**
   * When whether it has effects is known only at run time (an MCP tool: its server's annotations),
   * this answers for the tenant; the spec's `effects` is what to assume if the answer cannot be had.
   */
  effectsFor?(env: Env, tenant: string): Promise<boolean>;
}

/** A spec with its implementation: the name, schema, effects and breaker are the spec's, never restated. */
export const implement = <S extends z.ZodType>(spec: QueueTool<S>, impl: Pick<QueueToolImpl<S>, "execute" | "effectsFor">): QueueToolImpl<S> => ({
  ...spec,
  ...impl,
});
