// Agent.run: a step a model drives. The tool itself does nothing; its executor (the run object's
// agent loop, durable/run/domain/agent/) makes each model call and each tool call the model asks
// for durable work of its own.
import { agentTool } from "../tool";
import { agentInputSchema } from "./agent-input";
import { AGENT_TOOL } from "./tool-patterns";

export const agentRun = agentTool({
  name: AGENT_TOOL,
  description:
    "Works towards a goal with a model that calls tools and sees their results until it answers. Use it when what to do next depends on results " +
    "not known when planning (compare fetched pages, then act on the best). Output: { answer, turns, tool_calls, usage }.",
  input_schema: agentInputSchema,
});
