// The fold of a run's family: the parent that started it (run.created), the child runs its
// Run.start steps started, and whether its parent has heard of its end. Part of the run's fold
// (run-state.ts spreads these handlers).
import type { ParentLink } from "./run-events";
import type { Handlers } from "./run-state";

export type { ParentLink } from "./run-events";

/** A child run, as this run last heard of it. */
export interface ChildLink {
  step: number;
  run_id: string;
  /** The child's status: as created, then as it reported its end. */
  status: string;
  wait: boolean;
}

export interface FamilyState {
  parent: ParentLink | null;
  /** In the order they were started; a step re-run after an undo starts a second child. */
  children: ChildLink[];
  /** The parent acknowledged this run's end (child runs only). */
  parent_notified: boolean;
}

export const emptyFamily = (): FamilyState => ({ parent: null, children: [], parent_notified: false });

export const childrenHandlers: Pick<Handlers, "child.started" | "child.ended" | "parent.notified"> = {
  "child.started": (state, d) => {
    if (!state.children.some((c) => c.run_id === d.run_id)) state.children.push({ step: d.step, run_id: d.run_id, status: d.status, wait: d.wait });
    // Waiting on a child holds no lease: the child says when it ends, and the run's deadline bounds the wait.
    const s = state.steps.get(d.step);
    if (s) s.lease_until = null;
  },
  "child.ended": (state, d) => {
    const child = state.children.find((c) => c.run_id === d.run_id);
    if (child) child.status = d.status;
  },
  "parent.notified": (state) => {
    state.parent_notified = true;
  },
};
