// The error a step carries, and the one table that says what each kind of error means: whether
// trying again could help, and whether it says something about the tool's dependency (so it
// counts against the tool's circuit breaker). Retries, breakers and the decider all read this
// table; nothing else decides.
import { z } from "zod";

interface Policy {
  /** Another attempt could succeed. */
  retryable: boolean;
  /** The failure says the dependency is unwell (it counts towards opening the tool's breaker). */
  countsAgainstDependency: boolean;
  /** The step is waiting for its tool's breaker to let it through (not a failure of the tool). */
  waitsOnBreaker?: boolean;
}

const retry = (countsAgainstDependency: boolean): Policy => ({ retryable: true, countsAgainstDependency });
const final: Policy = { retryable: false, countsAgainstDependency: false };

export const STEP_ERRORS = {
  // The step's own execution
  step_timeout: retry(true),
  tool_crashed: retry(true),
  lease_expired: retry(false),
  tool_unavailable: { retryable: true, countsAgainstDependency: false, waitsOnBreaker: true },
  run_timeout: final,
  // The run was cancelled before the work began
  cancelled: final,
  unknown_tool: final,
  invalid_input: final,
  reference_unresolved: final,
  step_failed: final,
  // A step's output over the run's max_output_bytes: it would not fit the log, an RPC or D1 (and running it again gives the same)
  output_too_large: final,
  // Human.approve: a decision is final, whoever made it
  approval_rejected: final,
  approval_timeout: final,
  // Wait.signal
  signal_timeout: final,
  // Run.start: a child run that ended badly is final (a retry would find the same child); one the
  // tenant's cap refused waits and is tried again without using up an attempt
  child_failed: final,
  child_cancelled: final,
  child_not_started: final,
  run_depth_exceeded: final,
  child_start_failed: retry(false),
  child_at_capacity: retry(false),
  // Http.get
  upstream_timeout: retry(true),
  upstream_unreachable: retry(true),
  upstream_error: retry(true),
  upstream_rate_limited: retry(false),
  upstream_rejected: final,
  response_too_large: final,
  too_many_redirects: final,
  address_not_allowed: final,
  host_not_allowed: final,
  // mcp.<server>.<tool>: a JSON-RPC or transport failure may pass; the server's own "no" does not
  mcp_protocol_error: retry(true),
  mcp_invalid_params: final,
  mcp_tool_error: final,
  mcp_unknown_tool: final,
  mcp_server_not_found: final,
  // Agent.run: its loop's own ends, and its model calls'
  model_not_configured: final,
  // The tenant's daily LLM cap turned a model call away before it was made: it waits, like a step on an open breaker
  llm_budget_exhausted: { retryable: true, countsAgainstDependency: false, waitsOnBreaker: true },
  budget_exceeded: final,
  max_turns_exceeded: final,
  invalid_output: final,
  tool_not_allowed: final,
  // TodoStore.*
  todo_not_found: final,
  ambiguous_title: final,
  already_completed: final,
  todo_write_lost: retry(false),
  // Calculator.evaluate
  division_by_zero: final,
  empty_expression: final,
  expression_too_long: final,
  invalid_character: final,
  result_not_finite: final,
  syntax_error: final,
  too_deep: final,
} as const satisfies Record<string, Policy>;

export type StepErrorCode = keyof typeof STEP_ERRORS;

export const stepErrorSchema = z.object({
  code: z.string(),
  message: z.string(),
  retryable: z.boolean(),
  retry_after_ms: z.number().int().nonnegative().optional(),
});
/**
 * What went wrong, in a sentence a person can act on. `retryable` is derived from the code (it is
 * stored with the error so logs and older events read the same); `retry_after_ms` carries an
 * upstream's Retry-After.
 */
export type StepError = z.infer<typeof stepErrorSchema>;

export function stepError(code: StepErrorCode, message: string, opts: { retry_after_ms?: number } = {}): StepError {
  const err: StepError = { code, message, retryable: STEP_ERRORS[code].retryable };
  if (opts.retry_after_ms !== undefined) err.retry_after_ms = opts.retry_after_ms;
  return err;
}

function policy(code: string): Policy | undefined {
  return Object.hasOwn(STEP_ERRORS, code) ? STEP_ERRORS[code as StepErrorCode] : undefined;
}

/** Failures that say something about the dependency; bad input or a 4xx does not. */
export const countsAgainstDependency = (code: string): boolean => policy(code)?.countsAgainstDependency ?? false;

/** The step waits for its tool's breaker rather than having failed. */
export const waitsOnBreaker = (error: StepError | null): boolean => (error ? (policy(error.code)?.waitsOnBreaker ?? false) : false);

/** A tool's input that fails its schema once references are resolved: one message, wherever it is checked. */
export function invalidInput(tool: string, issues: readonly { path: readonly PropertyKey[]; message: string }[]): StepError {
  const detail = issues.map((i) => `${i.path.map(String).join(".") || "input"}: ${i.message}`).join("; ");
  return stepError("invalid_input", `${tool} got an input it cannot use after resolving references: ${detail}`);
}
