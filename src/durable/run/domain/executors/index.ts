// The executors, one per kind of step. The map's type lists every kind a tool may declare, so a
// new kind does not compile until its executor is registered here.
import type { Tool } from "../../../../tools/tool";
import { agentExecutor } from "./agent";
import { awaitExecutor } from "./await";
import { childExecutor } from "./child";
import type { Executor } from "./executor";
import { inlineExecutor } from "./inline";
import { queueExecutor } from "./queue";
import { timerExecutor } from "./timer";

type ToolOfKind<K extends Tool["executor"]> = Extract<Tool, { executor: K }>;

const EXECUTORS: { readonly [K in Tool["executor"]]: Executor<ToolOfKind<K>> } = {
  inline: inlineExecutor,
  queue: queueExecutor,
  timer: timerExecutor,
  await: awaitExecutor,
  child: childExecutor,
  agent: agentExecutor,
};

/** The executor of a tool's kind. */
export const executorOf = (tool: Tool): Executor => EXECUTORS[tool.executor] as Executor;

export type { Attempt, Executor, Start, Work, WorkOps } from "./executor";
