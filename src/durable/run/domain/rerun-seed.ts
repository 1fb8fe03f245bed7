// What a rerun brings to its new run object: the run it forks and the steps it takes over. Written
// in the command that creates the run (the same row as run.created), so a reused step is never
// dispatched, not even once.
import type { Machine } from "./machine";

export interface ReusedStep {
  step: number;
  input: unknown;
  output: unknown;
}

export interface RerunSeed {
  /** The run this one is forked from. */
  of: string;
  reused: ReusedStep[];
}

/** The steps that will run: a rerun's reused steps do not (they decide whether the run needs a slot). */
export function stepsToRun<S extends { step_number: number }>(steps: readonly S[], rerun: RerunSeed | undefined): S[] {
  if (!rerun) return [...steps];
  const reused = new Set(rerun.reused.map((r) => r.step));
  return steps.filter((s) => !reused.has(s.step_number));
}

export function emitReused(m: Machine, rerun: RerunSeed | undefined): void {
  for (const r of rerun?.reused ?? []) m.emit("step.reused", { step: r.step, input: r.input, output: r.output, from_run_id: rerun!.of });
}
