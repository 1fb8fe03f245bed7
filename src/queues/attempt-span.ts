// The span of one step attempt in a consumer: a child of the run object command that dispatched
// it (its message names that command's span), in the run's trace. The tool's own spans (an
// outbound request) are its children. They travel in the attempt's report: the run object exports
// them with its command's spans. An attempt that ends without a report (deferred by an open
// breaker, refused by the pre-flight check, expired) has no span of its own: the run object's
// `RunObject.defer` command, or nothing, stands for it.
import type { Outcome, StepMessage, StepReport } from "../execution/step-protocol";
import { SpanKind, type SpanData } from "../lib/otel/span";

/** The attempt's trace context; `spans` (present only when spans are exported) collects the tool's. */
export interface AttemptTrace {
  trace_id: string;
  span_id: string;
  spans?: SpanList;
}

export class SpanList {
  readonly list: SpanData[] = [];
  record(span: SpanData): void {
    this.list.push(span);
  }
}

/** The spans a report carries: none when spans are not exported. */
export function attemptSpans(msg: StepMessage, trace: AttemptTrace, startMs: number, outcome: Outcome): Pick<StepReport, "spans"> {
  if (!trace.spans) return {};
  const attempt: SpanData = {
    trace_id: msg.trace_id,
    span_id: trace.span_id,
    ...(msg.parent_span_id ? { parent_span_id: msg.parent_span_id } : {}),
    name: `step ${msg.tool}`,
    kind: SpanKind.consumer,
    start_ms: startMs,
    end_ms: Date.now(),
    tenant: msg.tenant,
    attributes: {
      "crane.run_id": msg.run_id,
      "crane.step": msg.step,
      "crane.attempt": msg.attempt,
      "crane.dispatch": msg.dispatch,
      "crane.tool": msg.tool,
      "crane.outcome": outcome.success ? "succeeded" : "failed",
    },
    ...(outcome.success ? {} : { error: outcome.error.code }),
  };
  return { spans: [attempt, ...trace.spans.list] };
}
