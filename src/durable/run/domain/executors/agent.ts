// Agent: a step a model drives (Agent.run). Its attempt begins and then lives as long as its loop
// (agent/loop.ts): the step holds no lease and no deadline of its own; each model call and each
// tool call is work with its own attempts, lease and deadline, and the run's deadline bounds it all.
import type { AgentTool } from "../../../../tools/tool";
import { advanceAgent, agentEffectInFlight } from "../agent/loop";
import type { Executor } from "./executor";

export const agentExecutor: Executor<AgentTool> = {
  start(a) {
    a.begin();
  },
  deadline: () => null,
  expire: () => {},
  advance: advanceAgent,
  effectInFlight: agentEffectInFlight,
};
