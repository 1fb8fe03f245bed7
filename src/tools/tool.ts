// A tool is a named operation a plan step can call, with a zod input schema. Where it runs is
// part of its definition, because it decides what a step costs:
// - "inline": pure and bounded (the calculator). It runs inside the run object's command as soon
//   as its dependencies succeed: no queue hop, no extra request.
// - "queue": does I/O or may take long (HTTP, D1). A queue consumer runs it; queues spread this
//   work across consumers.
// - "timer": a durable timer the run object keeps itself (its alarm); waiting holds no consumer.
// - "await": waits for something from outside the run (a person's decision, a signal). The step
//   is "waiting": it holds no consumer, no message and no slot, only its deadline on the alarm.
// - "child": starts another run (Run.start). The run object creates it with one call to the child's
//   object and, when asked to wait, learns of its end from the child: no consumer, no polling.
//
// These are the tools' specs: what the planner, the API and the run's (pure) domain need to know.
// What a queue tool does when a consumer runs it is its implementation (`tool-impl.ts`, each
// tool's `execute.ts`, gathered in `implementations.ts`), which only the queue consumer imports:
// so the decider's imports never reach D1, the MCP SDK or fetch helpers.
import type { z } from "zod";
import type { StepError } from "../execution/step-error";

/**
 * What a tool's run came to. A failure with `retry_at` was turned away before the tool acted (a
 * model call over its tenant's daily cap): the attempt is given back and tried again then.
 */
export type ToolResult = { success: true; output: unknown; error?: undefined } | { success: false; output?: undefined; error: StepError; retry_at?: number };

interface ToolBase<S extends z.ZodType> {
  name: string;
  description: string;
  input_schema: S;
  /**
   * What undoes this tool's effect, for a plan step that names no compensation of its own: so
   * plans from the planners are compensable without extra words. References point at the step.
   */
  compensation?(step: number): { tool: string; input: Record<string, unknown> };
}

export interface QueueTool<S extends z.ZodType = z.ZodType> extends ToolBase<S> {
  executor: "queue";
  /**
   * The tool changes something outside the run (a todo): the consumer asks the run object once
   * before running it, so a step cancelled while its message waited, or a duplicate delivery,
   * does nothing. Tools that only read skip that request. When it is known only at run time
   * (an MCP tool: its server's annotations), the implementation's `effectsFor` answers, and this
   * is what to assume if the answer cannot be had.
   */
  effects: boolean;
  /** The circuit breaker its calls go through, when not its own name (an MCP server's tools share one). */
  breaker?: string;
}

export interface InlineTool<S extends z.ZodType = z.ZodType> extends ToolBase<S> {
  executor: "inline";
  /** Synchronous and bounded: it runs inside the run object's turn. */
  run(input: z.output<S>): ToolResult;
}

export interface TimerTool<S extends z.ZodType = z.ZodType> extends ToolBase<S> {
  executor: "timer";
  /** When the timer fires after it starts, in ms. */
  durationMs(input: z.output<S>): number;
}

/** What a waiting step waits for: a decision (POST …/decision) or a signal (POST …/signals/{name}). */
export type AwaitKind = "approval" | "signal";

export interface AwaitTool<S extends z.ZodType = z.ZodType> extends ToolBase<S> {
  executor: "await";
  kind: AwaitKind;
  /** How long the step waits, in ms. */
  timeoutMs(input: z.output<S>): number;
  /** An approval: what the wait's end without a decision means. Without it the step fails at its timeout. */
  onTimeout?(input: z.output<S>): "approve" | "reject";
  /** A signal: the name of the signal the step waits for. */
  signalName?(input: z.output<S>): string;
}

export interface ChildTool<S extends z.ZodType = z.ZodType> extends ToolBase<S> {
  executor: "child";
}

/**
 * A step a model drives (Agent.run): the run object keeps its loop, and each model call and each
 * tool call the model asks for is work of its own (see durable/run/domain/agent/).
 */
export interface AgentTool<S extends z.ZodType = z.ZodType> extends ToolBase<S> {
  executor: "agent";
}

export type Tool<S extends z.ZodType = z.ZodType> = QueueTool<S> | InlineTool<S> | TimerTool<S> | AwaitTool<S> | ChildTool<S> | AgentTool<S>;

export const queueTool = <S extends z.ZodType>(tool: Omit<QueueTool<S>, "executor">): QueueTool<S> => ({ ...tool, executor: "queue" });
export const inlineTool = <S extends z.ZodType>(tool: Omit<InlineTool<S>, "executor">): InlineTool<S> => ({ ...tool, executor: "inline" });
export const timerTool = <S extends z.ZodType>(tool: Omit<TimerTool<S>, "executor">): TimerTool<S> => ({ ...tool, executor: "timer" });

export const childTool = <S extends z.ZodType>(tool: Omit<ChildTool<S>, "executor">): ChildTool<S> => ({ ...tool, executor: "child" });
export const agentTool = <S extends z.ZodType>(tool: Omit<AgentTool<S>, "executor">): AgentTool<S> => ({ ...tool, executor: "agent" });
export const awaitTool = <S extends z.ZodType>(tool: Omit<AwaitTool<S>, "executor">): AwaitTool<S> => ({ ...tool, executor: "await" });

export const ok = (output: unknown): ToolResult => ({ success: true, output });
export const fail = (error: StepError): ToolResult => ({ success: false, error });

/**
 * What each kind of step is, for code that must not care how it runs: the planner (may it undo
 * something?), the run's creation (does it end in the command that makes it?), tracing (does a
 * consumer record its attempt?). One entry per kind, so a new kind cannot be forgotten here.
 */
export interface ExecutorTraits {
  /** It runs to its end inside the run object's command. */
  endsInCommand: boolean;
  /** It acts and reports like a step, so it can carry the undo of one. */
  undoable: boolean;
  /** A queue consumer runs it, and records its attempt itself. */
  queued: boolean;
}

export const EXECUTOR_TRAITS: { readonly [K in Tool["executor"]]: ExecutorTraits } = {
  inline: { endsInCommand: true, undoable: true, queued: false },
  queue: { endsInCommand: false, undoable: true, queued: true },
  timer: { endsInCommand: false, undoable: false, queued: false },
  await: { endsInCommand: false, undoable: false, queued: false },
  child: { endsInCommand: false, undoable: false, queued: false },
  agent: { endsInCommand: false, undoable: false, queued: false },
};

export const traitsOf = (tool: Tool): ExecutorTraits => EXECUTOR_TRAITS[tool.executor];
