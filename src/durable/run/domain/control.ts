// What a client does to a whole run: cancel it (at once, or compensating first), resume it; and
// what the run object decides before it creates one (its options, whether it ends inline).
import { DEFAULT_RUN_TIMEOUT_MS, MAX_RUN_TIMEOUT_MS, type RunOptions } from "../../../execution/run-options";
import { getTool } from "../../../tools/registry";
import { traitsOf } from "../../../tools/tool";
import { advance } from "./decide";
import { ordered } from "./queries";
import type { Machine } from "./machine";
import { TERMINAL_RUN, TERMINAL_STEP } from "./state";

export type ControlResult = { ok: true } | { ok: false; code: "run_finished" | "run_not_resumable" | "run_compensating"; message: string };

/**
 * Pauses the run: nothing new is dispatched. Steps in flight finish and are recorded; timers,
 * retries and approvals keep their deadlines and act after the resume. Pausing a paused run
 * changes nothing.
 */
export function pause(m: Machine, reason: string): ControlResult {
  const { state } = m;
  if (TERMINAL_RUN.has(state.status)) return { ok: false, code: "run_finished", message: `The run is already ${state.status}.` };
  if (state.compensation || state.cancelling !== null)
    return { ok: false, code: "run_compensating", message: "The run is undoing its steps (or being cancelled); it cannot pause now." };
  if (!state.paused) m.emit("run.paused", { reason });
  return { ok: true };
}

/**
 * Cancels the run. Plainly, at once: every step not ended is skipped (a late report is ignored).
 * With `compensate`, nothing new starts and what has not begun is skipped, steps already in flight
 * finish and are recorded, then every succeeded step with a compensation is undone and the run
 * ends cancelled.
 */
export function cancel(m: Machine, reason: string, compensate = false): ControlResult {
  const { state } = m;
  if (TERMINAL_RUN.has(state.status)) return { ok: false, code: "run_finished", message: `The run is already ${state.status}.` };
  if (state.compensation) return { ok: false, code: "run_compensating", message: "The run is undoing its steps after a failure; it ends when that is done." };
  if (compensate) {
    // A paused run has to move again to finish, compensate and end.
    if (state.paused) m.emit("run.unpaused", {});
    if (state.cancelling === null) m.emit("run.cancelling", { reason });
    advance(m);
    return { ok: true };
  }
  for (const s of ordered(state)) if (!TERMINAL_STEP.has(s.status)) m.emit("step.skipped", { step: s.step_number, reason: "cancelled" });
  m.emit("run.cancelled", { reason });
  return { ok: true };
}

/**
 * Continues a paused run where it stood; re-runs a failed or cancelled run's failed, skipped and
 * undone steps. `slotShard`: the limiter shard that granted such a run its slot again.
 */
export function resume(m: Machine, slotShard = 0): ControlResult {
  if (m.state.paused && !TERMINAL_RUN.has(m.state.status)) {
    m.emit("run.unpaused", {});
    advance(m);
    return { ok: true };
  }
  if (m.state.status !== "failed" && m.state.status !== "cancelled") {
    return { ok: false, code: "run_not_resumable", message: `Only paused, failed or cancelled runs resume; this run is ${m.state.status}.` };
  }
  // Steps whose effect compensation undid run again too.
  const undone = new Set(m.state.compensation?.steps.filter((u) => u.status === "succeeded").map((u) => u.step_number));
  const again = ordered(m.state)
    .filter((s) => s.status === "failed" || s.status === "skipped" || undone.has(s.step_number))
    .map((s) => s.step_number);
  m.emit("run.resumed", { steps: again, ...(slotShard ? { slot_shard: slotShard } : {}) });
  advance(m);
  return { ok: true };
}

/**
 * The options a run is created with. A plan that waits (approvals, signals) and gives no
 * run_timeout_ms of its own gets a deadline past its waits, so each wait's own timeout (and its
 * on_timeout) decides it: the default day for the work, plus the longest each wait may take (a
 * timeout that is a reference counts as the longest allowed), at most MAX_RUN_TIMEOUT_MS. An
 * explicit run_timeout_ms always holds. Written into run.created, so the log says it.
 */
export function optionsFor(options: RunOptions, steps: readonly { tool: string; input: Record<string, unknown> }[]): RunOptions {
  if (options.run_timeout_ms !== undefined) return options;
  let waits = 0;
  for (const s of steps) {
    const tool = getTool(s.tool);
    if (tool?.executor !== "await") continue;
    const parsed = tool.input_schema.safeParse(s.input);
    waits += parsed.success ? tool.timeoutMs(parsed.data) : MAX_RUN_TIMEOUT_MS;
  }
  return waits === 0 ? options : { ...options, run_timeout_ms: Math.min(MAX_RUN_TIMEOUT_MS, DEFAULT_RUN_TIMEOUT_MS + waits) };
}

/** Will a run of these steps end inside the command that creates it? (every step is an inline tool) */
export function endsInline(steps: readonly { tool: string }[]): boolean {
  return steps.every((s) => {
    const tool = getTool(s.tool);
    return tool !== undefined && traitsOf(tool).endsInCommand;
  });
}
