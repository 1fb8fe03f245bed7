// What people and other systems send a waiting run: a decision on an approval, a signal for a
// Wait.signal step. Each is one command on the run object; these are its decisions.
import { getTool } from "../../../tools/registry";
import { advance, fireDue } from "./decide";
import { agentCall, ordered } from "./queries";
import { takeSignal } from "./executors/await";
import type { Machine } from "./machine";
import { TERMINAL_RUN, type StepState } from "./state";

export type SignalResult =
  | { ok: true; seq: number; delivered_to: number | null }
  | { ok: false; code: "run_finished"; message: string }
  | { ok: false; code: "too_many_signals"; message: string; limit: number };

/**
 * Signals kept for steps that have not waited yet, at most: each may be 64 KiB and lives in the
 * object's memory until a step takes it, so a run waiting 30 days could otherwise be pushed past it.
 */
export const MAX_BUFFERED_SIGNALS = 100;

/**
 * A signal sent to the run. It is always recorded; the waiting Wait.signal step for its name (the
 * lowest-numbered, if several) takes it at once, or it is kept for a step that waits later.
 */
export function signal(m: Machine, name: string, payload: unknown): SignalResult {
  if (TERMINAL_RUN.has(m.state.status)) return { ok: false, code: "run_finished", message: `The run is already ${m.state.status}; it takes no signals.` };
  const buffered = m.state.signals.filter((g) => g.taken_by === null).length;
  const waiting = ordered(m.state).find((s) => s.status === "waiting" && waitsForSignal(s, name));
  if (!waiting && buffered >= MAX_BUFFERED_SIGNALS)
    return { ok: false, code: "too_many_signals", message: `The run keeps ${buffered} signals no step has taken yet, its limit.`, limit: MAX_BUFFERED_SIGNALS };
  const seq = m.emit("signal.received", { name, payload });
  const received = m.state.signals.find((g) => g.seq === seq)!;
  if (!waiting) return { ok: true, seq, delivered_to: null };
  takeSignal(m, waiting, received);
  advance(m);
  return { ok: true, seq, delivered_to: waiting.step_number };
}

const waitsForSignal = (s: StepState, name: string): boolean => {
  const tool = getTool(s.tool);
  return tool?.executor === "await" && tool.kind === "signal" && (s.resolved_input as { name?: unknown } | null)?.name === name;
};

export interface Decision {
  decision: "approve" | "reject";
  comment: string | null;
  /** Who decided: the API key's id. */
  by: string;
  /** An agent step's tool call waiting for a person: its number (absent: the step is a Human.approve). */
  call?: number | undefined;
}

export type DecisionResult =
  | { ok: true }
  | { ok: false; code: "step_not_found"; message: string }
  | { ok: false; code: "run_finished" | "step_not_waiting" | "decision_too_late"; message: string };

/**
 * A person's decision on a waiting approval. It counts once: a second decision, one for a step
 * that is not a waiting approval, or one that comes after the timeout is refused (and a timeout
 * the alarm has not acted on yet is applied here first).
 */
export function decideApproval(m: Machine, step: number, d: Decision): DecisionResult {
  const s = m.state.steps.get(step);
  if (!s) return { ok: false, code: "step_not_found", message: `This run has no step ${step}.` };
  if (d.call !== undefined || s.agent) return decideCall(m, s, d);
  const tool = getTool(s.tool);
  if (tool?.executor !== "await" || tool.kind !== "approval")
    return { ok: false, code: "step_not_waiting", message: `Step ${step} is ${s.tool}, not an approval.` };
  if (s.status === "waiting" && s.wait_until !== null && s.wait_until <= m.now) {
    fireDue(m);
    return { ok: false, code: "decision_too_late", message: `Step ${step}'s approval timed out before this decision came.` };
  }
  if (TERMINAL_RUN.has(m.state.status)) return { ok: false, code: "run_finished", message: `The run is already ${m.state.status}.` };
  if (s.status !== "waiting") {
    const decided = s.status === "succeeded" || (s.status === "failed" && s.error?.code.startsWith("approval_"));
    return {
      ok: false,
      code: "step_not_waiting",
      message: decided ? `Step ${step} was decided already.` : `Step ${step} is ${s.status}; only a waiting approval takes a decision.`,
    };
  }
  m.emit("step.decided", { step, attempt: s.attempt, decision: d.decision, comment: d.comment, decided_by: d.by });
  advance(m);
  return { ok: true };
}

/**
 * A person's decision on a tool call an agent step's model asked for: approve runs the call;
 * reject gives the model the person's comment as the call's result. It counts once.
 */
function decideCall(m: Machine, s: StepState, d: Decision): DecisionResult {
  const step = s.step_number;
  if (!s.agent) return { ok: false, code: "step_not_waiting", message: `Step ${step} is ${s.tool}, not an agent; a decision on it names no call.` };
  if (d.call === undefined) return { ok: false, code: "step_not_waiting", message: `Step ${step} is an agent: name the call the decision is for ("call": n).` };
  if (TERMINAL_RUN.has(m.state.status)) return { ok: false, code: "run_finished", message: `The run is already ${m.state.status}.` };
  const c = agentCall(s, d.call);
  if (!c) return { ok: false, code: "step_not_found", message: `Step ${step} has no call ${d.call}.` };
  if (c.status !== "waiting") {
    const what = c.approved || c.status === "rejected" ? "was decided already" : `is ${c.status}; only a waiting call takes a decision`;
    return { ok: false, code: "step_not_waiting", message: `Call ${d.call} of step ${step} ${what}.` };
  }
  m.emit("agent.call_decided", { step, call: c.call, decision: d.decision, comment: d.comment, decided_by: d.by });
  advance(m);
  return { ok: true };
}
