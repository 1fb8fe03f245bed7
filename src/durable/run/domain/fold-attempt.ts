// How the fold records the life of one attempt, for every kind of attempt-bearing work (a step, the
// undo of one): fold.ts and fold-compensation.ts both use these, so the two cannot drift apart.
import type { StepError } from "../../../execution/step-error";
import type { AttemptState } from "./state";

export function clearDeadlines(w: AttemptState): void {
  w.lease_until = null;
  w.resend_at = null;
  w.retry_at = null;
  w.wake_at = null;
  w.wait_until = null;
}

/** An attempt begins (it runs, or waits for someone): the caller then sets the one deadline it has. */
export function beginAttempt(w: AttemptState, d: { attempt: number; input: unknown }, at: string, seq: number): void {
  w.dispatch_seq = seq;
  w.attempt = d.attempt;
  w.attempts += 1;
  w.resolved_input = d.input;
  w.started_at = at;
  w.started_ms = Date.parse(at);
  w.completed_at = null;
  w.resends = 0;
  clearDeadlines(w);
}

/** The attempt's message was sent again (step.resent): the next copy is due at `next`, or none is. */
export function resent(w: AttemptState, next: number | undefined): void {
  w.resends += 1;
  w.resend_at = next ?? null;
}

/** Back to pending, with the error that sent it there, until `retryAt`. */
export function waitToRetry(w: AttemptState & { status: string }, error: StepError, retryAt: number): void {
  w.status = "pending";
  w.error = error;
  clearDeadlines(w);
  w.retry_at = retryAt;
}

/** An open breaker turned the attempt away before the tool ran: the attempt is given back. */
export function giveBack(w: AttemptState, at: string): void {
  w.attempts = Math.max(0, w.attempts - 1);
  w.attempt = Math.max(0, w.attempt - 1);
  w.deferrals += 1;
  w.deferred_since ??= Date.parse(at);
}
