// Which tools an agent may call, and which of its calls wait for a person: lists of names where a
// name may end in `*` ("mcp.github.*", "TodoStore.*"). A wildcard never lets an agent start another
// agent: `Agent.run` is callable only when listed by its exact name, since a nested agent is a
// child run with a cost of its own.

export const AGENT_TOOL = "Agent.run";

/** A tool name, or a prefix ending in `*`. */
export const TOOL_PATTERN = /^(?:[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*(?:\.\*|\*)?|\*)$/;

export function matchesPattern(pattern: string, tool: string): boolean {
  if (!pattern.endsWith("*")) return pattern === tool;
  return tool.startsWith(pattern.slice(0, -1));
}

/** Whether an agent with these `tools` may call `tool`. */
export function allowsTool(patterns: readonly string[], tool: string): boolean {
  if (tool === AGENT_TOOL) return patterns.includes(AGENT_TOOL);
  return patterns.some((p) => matchesPattern(p, tool));
}

/** Whether a call to `tool` waits for a person (`approve`; wildcards match any tool here). */
export function needsApproval(approve: readonly string[] | undefined, tool: string): boolean {
  return (approve ?? []).some((p) => matchesPattern(p, tool));
}

export interface CatalogueEntry {
  name: string;
  /** The tool changes something outside the run. */
  effects: boolean;
}

/**
 * The tools offered to the model, in catalogue order: those `tools` allows, or by default every
 * tool without side effects plus the TodoStore tools (never Agent.run).
 */
export function offeredTools(patterns: readonly string[] | undefined, catalogue: readonly CatalogueEntry[]): string[] {
  if (patterns) return catalogue.filter((t) => allowsTool(patterns, t.name)).map((t) => t.name);
  return catalogue.filter((t) => t.name !== AGENT_TOOL && (!t.effects || t.name.startsWith("TodoStore."))).map((t) => t.name);
}
