// The tool catalogue, as specs: what a step may name, its schema and how it runs. The planner,
// the API and the run's domain read it; none of it does I/O (a queue tool's execute is in
// implementations.ts, which only the queue consumer imports).
import { z } from "zod";
import { agentRun } from "./agent-run/agent-run";
import { llmCall } from "./llm-call/spec";
import { calculator } from "./calculator/calculator";
import { httpGet } from "./http-get/spec";
import { humanApprove } from "./human-approve";
import type { McpCatalogue } from "./mcp/mcp-catalogue";
import { mcpTool } from "./mcp/spec";
import { runCollect, runStart } from "./run-start";
import type { Tool } from "./tool";
import { todoAdd, todoComplete, todoDelete, todoGet, todoList, todoReopen } from "./todo-store/spec";
import { waitSignal } from "./wait-signal";
import { waitSleep } from "./wait-sleep";

const all: Tool[] = [
  calculator,
  todoAdd,
  todoList,
  todoGet,
  todoComplete,
  todoDelete,
  todoReopen,
  httpGet,
  waitSleep,
  waitSignal,
  humanApprove,
  runStart,
  runCollect,
  agentRun,
] as Tool[];

export const tools: ReadonlyMap<string, Tool> = new Map(all.map((t) => [t.name, t]));

/** Tools only the engine dispatches (an agent's model call): never in the catalogue, never planned. */
export const internalTools: ReadonlyMap<string, Tool> = new Map([[llmCall.name, llmCall as Tool]]);

/**
 * The spec of the tool a step names. `mcp.<server>.<tool>` names resolve to the generic MCP queue tool: whether
 * the tenant's catalogue has it was checked when the plan was made (validate-plan.ts), and is
 * checked again by the consumer against the server's tool list.
 */
export function getTool(name: string): Tool | undefined {
  return tools.get(name) ?? internalTools.get(name) ?? mcpTool(name);
}

/** The circuit breaker a tool's calls go through: its own name, or its MCP server's. */
export function breakerOf(name: string): string {
  const tool = getTool(name);
  return (tool?.executor === "queue" && tool.breaker) || name;
}

export interface ToolDescription {
  name: string;
  description: string;
  input_schema: unknown;
}

/** The built-in catalogue as clients and the LLM planner see it: JSON Schema generated from zod. */
export function describeTools(): ToolDescription[] {
  return all.map((t) => ({
    name: t.name,
    description: t.description,
    input_schema: z.toJSONSchema(t.input_schema, { io: "input", unrepresentable: "any" }),
  }));
}

/** A tenant's whole catalogue: the built-in tools, then its MCP servers' tools. */
export function describeCatalogue(mcp: McpCatalogue): ToolDescription[] {
  return [...describeTools(), ...mcp.values()];
}
