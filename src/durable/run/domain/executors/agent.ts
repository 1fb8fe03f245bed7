// Agent: a step a model drives (Agent.run). Its attempt begins and then lives as long as its loop
// (agent/loop.ts): the step holds no lease and no deadline of its own; each model call and each
// tool call is work with its own attempts, lease and deadline, and the run's deadline bounds it all.
// An agent's own call to Agent.run (a nested agent) is a child run: that call's attempt begins with
// the short lease a Run.start step has, until the run object has created the child.
import { stepError } from "../../../../execution/step-error";
import type { AgentTool } from "../../../../tools/tool";
import { advanceAgent, agentEffectInFlight } from "../agent/loop";
import { CHILD_START_LEASE_MS } from "./child";
import type { Executor } from "./executor";

export const agentExecutor: Executor<AgentTool> = {
  start(a) {
    if (a.work.kind === "call") a.begin({ lease_until: a.m.now + CHILD_START_LEASE_MS });
    else a.begin();
  },
  // Only a nested agent's call has a lease (until its child is recorded); the step itself has none.
  deadline: (w) => w.lease_until,
  expire(a) {
    a.fail(stepError("lease_expired", `No child run was recorded for the nested agent's attempt ${a.attempt} within its lease.`));
  },
  advance: advanceAgent,
  effectInFlight: agentEffectInFlight,
};
