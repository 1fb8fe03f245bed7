// What each queue tool does, by name: the one module that gathers the tools' implementations
// (D1, fetch, the MCP client). Only the queue consumer imports it; the planner, the API and the
// run's domain read the specs (registry.ts), so they never load these modules. Lint holds that
// line (eslint.config.js), and test/node/domain-imports.test.ts follows the imports all the way.
import { httpGetImpl } from "./http-get/execute";
import { llmCallImpl } from "./llm-call/execute";
import { mcpToolImpl } from "./mcp/execute";
import type { QueueToolImpl } from "./tool-impl";
import { todoAddImpl, todoCompleteImpl, todoDeleteImpl, todoGetImpl, todoListImpl, todoReopenImpl } from "./todo-store/execute";

const all = [todoAddImpl, todoListImpl, todoGetImpl, todoCompleteImpl, todoDeleteImpl, todoReopenImpl, httpGetImpl, llmCallImpl] as QueueToolImpl[];

export const implementations: ReadonlyMap<string, QueueToolImpl> = new Map(all.map((t) => [t.name, t]));

/** The runnable queue tool a step message names (`mcp.<server>.<tool>` included), or undefined. */
export function implementationOf(name: string): QueueToolImpl | undefined {
  return implementations.get(name) ?? mcpToolImpl(name);
}
