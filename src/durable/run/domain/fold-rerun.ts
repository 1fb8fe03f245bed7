// The fold of a rerun's reused steps. Part of the run's fold (fold.ts spreads these handlers).
import type { Handlers } from "./state";

/**
 * A reused step is succeeded from the start, with the input and output recorded in the run it
 * was forked from. It has no attempts: nothing ran here. It is a succeeded step like any other
 * for what follows: its dependants read its output, and compensation undoes it if this run fails
 * (the rerun took its effect over).
 */
export const rerunHandlers: Pick<Handlers, "step.reused"> = {
  "step.reused": (state, d, at, seq) => {
    const s = state.steps.get(d.step);
    if (!s) throw new Error(`event refers to unknown step ${d.step}`);
    s.status = "succeeded";
    s.reused = true;
    s.succeeded_seq = seq;
    s.resolved_input = d.input;
    s.output = d.output;
    s.completed_at = at;
    s.duration_ms = 0;
  },
};
