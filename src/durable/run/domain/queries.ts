// Questions about a run's state that several decisions ask. Pure reads.
import type { AgentCallState, AgentState, LlmUsage, ModelCallState, RunState, StepState } from "./state";

export const ordered = (state: RunState): StepState[] => [...state.steps.values()].sort((a, b) => a.step_number - b.step_number);

/** Steps that hold one of the run's max_parallelism slots: started and not yet ended. */
export const inFlight = (state: RunState): number => [...state.steps.values()].filter((s) => s.status === "running" || s.status === "queued").length;

export const anyFailed = (state: RunState): boolean => [...state.steps.values()].some((s) => s.status === "failed");

/** The idempotency key of a step's attempts: a step run again after its effect was undone gets a new one. */
export const stepKey = (runId: string, s: Pick<StepState, "step_number" | "undone">): string => `${runId}:${s.step_number}${s.undone ? `:r${s.undone}` : ""}`;

/** An agent step's calls, across its turns, in the order the model asked for them. */
export const agentCalls = (s: Pick<StepState, "agent">): AgentCallState[] => (s.agent?.turns ?? []).flatMap((t) => t.calls);

/** An agent step's call by its number (numbered across the step's turns). */
export const agentCall = (s: Pick<StepState, "agent">, call: number): AgentCallState | undefined => agentCalls(s).find((c) => c.call === call);

/** The model calls an agent step made: every attempt of every turn's call. */
export const modelCalls = (agent: AgentState): number => agent.turns.reduce((n, t) => n + t.model.attempts, 0);

/** An agent step's own attempt-bearing work: each turn's model call, then the tool calls it asked for. */
export const agentAttempts = (s: Pick<StepState, "agent">): ({ kind: "model"; s: ModelCallState } | { kind: "call"; s: AgentCallState })[] =>
  (s.agent?.turns ?? []).flatMap((t) => [{ kind: "model" as const, s: t.model }, ...t.calls.map((c) => ({ kind: "call" as const, s: c }))]);

/** Two usages added up (only the three counts of each: a usage-bearing event's other fields are left out). */
export const addUsage = (a: LlmUsage, b: LlmUsage): LlmUsage => ({
  input_tokens: a.input_tokens + b.input_tokens,
  output_tokens: a.output_tokens + b.output_tokens,
  cost_usd: a.cost_usd + b.cost_usd,
});

/** The whole step's spend, which its budget bounds: its own model calls' and its nested agents'. */
export const stepSpend = (agent: AgentState): LlmUsage => addUsage(agent.usage, agent.nested);
