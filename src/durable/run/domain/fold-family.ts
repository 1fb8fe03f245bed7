// The fold of a run's family: the child runs its Run.start steps started, and whether its parent
// has heard of its end. Part of the run's fold (fold.ts spreads these handlers).
import { agentCall } from "./queries";
import type { Handlers } from "./state";

export const childrenHandlers: Pick<Handlers, "child.started" | "child.ended" | "parent.notified"> = {
  "child.started": (state, d) => {
    if (!state.children.some((c) => c.run_id === d.run_id))
      state.children.push({ step: d.step, ...(d.call === undefined ? {} : { call: d.call }), run_id: d.run_id, status: d.status, wait: d.wait });
    // Waiting on a child holds no lease: the child says when it ends, and the run's deadline bounds the wait.
    const s = state.steps.get(d.step);
    const waiting = d.call === undefined ? s : s?.agent ? agentCall(s, d.call) : undefined;
    if (waiting) waiting.lease_until = null;
  },
  "child.ended": (state, d) => {
    const child = state.children.find((c) => c.run_id === d.run_id);
    if (child) child.status = d.status;
  },
  "parent.notified": (state) => {
    state.parent_notified = true;
  },
};
