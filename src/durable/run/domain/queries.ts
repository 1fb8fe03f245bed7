// Questions about a run's state that several decisions ask. Pure reads.
import type { RunState, StepState } from "./state";

export const ordered = (state: RunState): StepState[] => [...state.steps.values()].sort((a, b) => a.step_number - b.step_number);

/** Steps that hold one of the run's max_parallelism slots: started and not yet ended. */
export const inFlight = (state: RunState): number => [...state.steps.values()].filter((s) => s.status === "running" || s.status === "queued").length;

export const anyFailed = (state: RunState): boolean => [...state.steps.values()].some((s) => s.status === "failed");

/** The idempotency key of a step's attempts: a step run again after its effect was undone gets a new one. */
export const stepKey = (runId: string, s: Pick<StepState, "step_number" | "undone">): string => `${runId}:${s.step_number}${s.undone ? `:r${s.undone}` : ""}`;
