// What a run writes to the Worker's log. Every event is already durable in the run's own log and
// served by the API, so a line per event only repeats it (and each line is a billed Workers Logs
// event): per-event lines are `debug`. At the default `info` a run writes one line when it ends
// (id, tenant, status, duration, steps, error), and warnings and failures as they happen.
import { log } from "../../../lib/log";
import type { RunEvent } from "../domain/events";
import { TERMINAL_RUN, type RunState } from "../domain/state";

/** Events about undoing a step: their line names the undo's tool, not the step's. */
const UNDO_EVENTS: ReadonlySet<string> = new Set(["compensation.step_started", "step.compensated", "step.compensation_failed"]);

export function logEvent(state: RunState, event: RunEvent, span: string): void {
  const d = event.data as { step?: number; attempt?: number; duration_ms?: number };
  const tool =
    d.step === undefined
      ? undefined
      : UNDO_EVENTS.has(event.type)
        ? state.compensation?.steps.find((u) => u.step_number === d.step)?.tool
        : state.steps.get(d.step)?.tool;
  const fields = { run_id: state.run_id, tenant: state.tenant, seq: event.seq, step: d.step, tool, attempt: d.attempt, duration_ms: d.duration_ms };
  log.debug(event.type, { ...fields, trace_id: state.trace_id, span_id: span });
  if (TERMINAL_RUN.has(state.status) && (event.type === "run.completed" || event.type === "run.failed" || event.type === "run.cancelled")) {
    const steps = [...state.steps.values()];
    log.info("run.ended", {
      run_id: state.run_id,
      tenant: state.tenant,
      status: state.status,
      duration_ms: Math.max(0, Date.parse(event.at) - Date.parse(state.created_at)),
      steps: steps.length,
      steps_failed: steps.filter((s) => s.status === "failed").length,
      error: state.error?.code,
      trace_id: state.trace_id,
    });
  } else if (event.type === "step.failed" || event.type === "step.compensation_failed" || event.type === "breaker.opened")
    log.warn(event.type, { ...fields, error: (event.data as { error?: { code: string } }).error?.code, trace_id: state.trace_id, span_id: span });
}
