// Child: a Run.start step starts another run. Its attempt begins with a short lease; the run object
// then creates the child (one call to the child's object, effects/family.ts) and records how that
// went (children.ts). A waiting step then holds no lease: the child says when it ends, and the
// run's deadline bounds the wait. A lease that passes before the child was recorded is retried.
import { stepError } from "../../../../execution/step-error";
import { AGENT_TOOL } from "../../../../tools/agent-run/tool-patterns";
import type { ChildTool } from "../../../../tools/tool";
import type { RunEvent } from "../events";
import type { Executor } from "./executor";

/** How long the run object has to create a child before the watchdog takes the dispatch back (planning may ask an LLM). */
export const CHILD_START_LEASE_MS = 60_000;

export const childExecutor: Executor<ChildTool> = {
  start(a) {
    a.begin({ lease_until: a.m.now + CHILD_START_LEASE_MS });
  },
  deadline: (w) => w.lease_until,
  expire(a) {
    a.fail(stepError("lease_expired", `No child run was recorded for attempt ${a.attempt} within its lease.`));
  },
};

/**
 * The dispatches a command just made that start a child: Run.start steps, and an agent's calls to
 * Agent.run (a nested agent is a child run). The run object creates their children after it.
 */
export function childDispatches(events: readonly RunEvent[]): { step: number; dispatch: number; call?: number }[] {
  return events.flatMap((e) => {
    if (e.type === "step.started" && (e as RunEvent<"step.started">).data.executor === "child")
      return [{ step: (e as RunEvent<"step.started">).data.step, dispatch: e.seq }];
    if (e.type === "agent.call_started" && (e as RunEvent<"agent.call_started">).data.tool === AGENT_TOOL) {
      const d = (e as RunEvent<"agent.call_started">).data;
      return [{ step: d.step, dispatch: e.seq, call: d.call }];
    }
    return [];
  });
}
