// The run and step statuses, spelled out once. The run object's state, the API's schemas, the CLI
// and the benchmark all derive their lists and their "has it ended?" checks from these.
// A run is "waiting" while one of its steps waits on someone (an approval): it needs a person, not a consumer.
// A run is "compensating" while it undoes what its succeeded steps did, after a failure or a cancel
// that asked for it; it then ends failed or cancelled.
// A "paused" run dispatches nothing new until it is resumed; what is in flight finishes and is recorded.
// A run is "cancelling" from a cancel that asked to compensate until its undoing starts: nothing new
// starts, and it waits for the steps in flight that may have an effect; then it is "compensating"
// (or, with nothing to undo, cancelled).
export const RUN_STATUSES = ["pending", "running", "waiting", "paused", "cancelling", "compensating", "completed", "failed", "cancelled"] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
export const TERMINAL_RUN_STATUSES = ["completed", "failed", "cancelled"] as const satisfies readonly RunStatus[];

// A "waiting" step waits for something outside the run (a decision): it holds no consumer, no
// queue message and no parallelism slot, only a deadline on the run object's alarm.
export const STEP_STATUSES = ["pending", "queued", "running", "waiting", "succeeded", "failed", "skipped"] as const;
export type StepStatus = (typeof STEP_STATUSES)[number];
export const TERMINAL_STEP_STATUSES = ["succeeded", "failed", "skipped"] as const satisfies readonly StepStatus[];

const terminalRuns: ReadonlySet<string> = new Set(TERMINAL_RUN_STATUSES);
const terminalSteps: ReadonlySet<string> = new Set(TERMINAL_STEP_STATUSES);

/** Has a run with this status ended? (Accepts any string, for statuses read off the wire.) */
export const runEnded = (status: string): boolean => terminalRuns.has(status);
export const stepEnded = (status: string): boolean => terminalSteps.has(status);

/** A run's compensation as a whole, and each step's undoing within it. */
export const COMPENSATION_STATUSES = ["running", "completed", "failed"] as const;
export type CompensationStatus = (typeof COMPENSATION_STATUSES)[number];
export const UNDO_STATUSES = ["pending", "running", "succeeded", "failed"] as const;
export type UndoStatus = (typeof UNDO_STATUSES)[number];
