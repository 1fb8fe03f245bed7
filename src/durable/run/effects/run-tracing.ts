// The run object's spans, exported over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set (the object
// holds null otherwise and pays nothing). In the run's trace (its trace_id):
// - "run": one span per life of the run (creation or resume to its end), a child of the span of
//   the request that created it (`parent_span_id` in run.created), recorded when the run ends;
// - "RunObject.<command>": one per command, a child of the run's span;
// - "step <tool>": an attempt that needs no consumer (inline, timer, await), recorded when it ends:
//   an inline attempt is a child of the command it ran in, a timer or a wait of the run's span.
//   Queued attempts are recorded by the consumer, as children of the command that dispatched
//   them: their message carries that command's span (`parent_span_id`).
import type { StepMessage, StepReport } from "../../../execution/step-protocol";
import { otlpExporter, type OtlpExporter } from "../../../lib/otel/exporter";
import { runSpanId, SpanKind, type SpanData } from "../../../lib/otel/span";
import { newSpanId } from "../../../lib/trace";
import { getTool } from "../../../tools/registry";
import { traitsOf } from "../../../tools/tool";
import type { RunEvent, RunEventData } from "../domain/events";
import type { RunState } from "../domain/state";

const ATTEMPT_ENDS = new Set(["step.succeeded", "step.failed", "step.retry_scheduled", "step.decided"]);
const RUN_ENDS = new Set(["run.completed", "run.failed", "run.cancelled"]);

/** When the run's current life began: creation or its last resume (each sets the deadline from then). */
const lifeStart = (state: RunState) => (state.deadline !== null ? state.deadline - state.options.run_timeout_ms : Date.parse(state.created_at));

export class RunTracing {
  private constructor(private readonly exporter: OtlpExporter) {}

  static for(env: Env): RunTracing | null {
    const exporter = otlpExporter(env);
    return exporter ? new RunTracing(exporter) : null;
  }

  /** The message, naming the command that dispatched it, so the consumer's span is its child. */
  stamp(message: StepMessage, commandSpan: string): StepMessage {
    return { ...message, parent_span_id: commandSpan };
  }

  /** Spans consumers sent with their reports: exported with the report's command. */
  adopt(reports: readonly StepReport[]): void {
    for (const r of reports) for (const span of r.spans ?? []) this.exporter.record(span);
  }

  /** Records one command's spans (and those of what ended in it) and sends them off the caller's path. */
  command(name: string, span: string, startMs: number, endMs: number, state: RunState, events: readonly RunEvent[]): void {
    if (!state.run_id) return;
    const base = { trace_id: state.trace_id, tenant: state.tenant };
    const life = runSpanId(state.run_id, lifeStart(state));
    this.exporter.record({
      ...base,
      span_id: span,
      parent_span_id: life,
      name: `RunObject.${name}`,
      kind: SpanKind.server,
      start_ms: startMs,
      end_ms: endMs,
      attributes: { "crane.run_id": state.run_id, "crane.events": events.length, "crane.run_status": state.status },
    });
    for (const e of events) {
      if (ATTEMPT_ENDS.has(e.type)) this.attempt(base, e, events, state, span, life);
      if (RUN_ENDS.has(e.type))
        this.exporter.record({
          ...base,
          span_id: life,
          ...(state.parent_span_id ? { parent_span_id: state.parent_span_id } : {}),
          name: "run",
          kind: SpanKind.internal,
          start_ms: lifeStart(state),
          end_ms: Date.parse(e.at),
          attributes: { "crane.run_id": state.run_id, "crane.run_status": state.status, "crane.steps": state.steps.size },
          ...(state.error ? { error: state.error.code } : {}),
        });
    }
    this.exporter.flush();
  }

  private attempt(
    base: Pick<SpanData, "trace_id" | "tenant">,
    end: RunEvent,
    events: readonly RunEvent[],
    state: RunState,
    command: string,
    life: string,
  ): void {
    const { step, attempt } = end.data as { step: number; attempt: number };
    const s = state.steps.get(step);
    const tool = s ? getTool(s.tool) : undefined;
    const executor = tool?.executor;
    // A consumer records a queued attempt's span itself.
    if (!s || (tool && traitsOf(tool).queued)) return;
    const began = events.find((e) => (e.type === "step.started" || e.type === "step.waiting") && (e.data as { step: number }).step === step);
    const error =
      end.type === "step.failed" || end.type === "step.retry_scheduled"
        ? (end.data as RunEventData["step.failed"]).error.code
        : end.type === "step.decided" && (end.data as RunEventData["step.decided"]).decision === "reject"
          ? "approval_rejected"
          : undefined;
    this.exporter.record({
      ...base,
      span_id: newSpanId(),
      // An inline attempt began in this very command; a timer or a wait began in an earlier one.
      parent_span_id: began ? command : life,
      name: `step ${s.tool}`,
      kind: SpanKind.internal,
      start_ms: began ? Date.parse(began.at) : (s.started_ms ?? Date.parse(end.at)),
      end_ms: Date.parse(end.at),
      attributes: { "crane.run_id": state.run_id, "crane.step": step, "crane.attempt": attempt, "crane.tool": s.tool, "crane.executor": executor ?? null },
      ...(error ? { error } : {}),
    });
  }
}
