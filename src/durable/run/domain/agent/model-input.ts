// What an agent step's next model call is sent, rebuilt from the recorded turns: the same log
// builds the same input byte for byte (transcript.ts), so a retried or replayed call asks the
// model the same thing and the log never stores a transcript (it would grow with the square of
// the turns). Also which tools the model is offered, and what a call cost.
import { z } from "zod";
import { prepareNextCall, llmReservationKey } from "../../../../llm/next-call";
import { costOf } from "../../../../llm/prices";
import type { CallOutcome, RecordedTurn } from "../../../../llm/transcript";
import type { Usage } from "../../../../llm/usage";
import type { AgentInput } from "../../../../tools/agent-run/agent-input";
import { allowsTool, AGENT_TOOL, offeredTools } from "../../../../tools/agent-run/tool-patterns";
import type { llmCallInputSchema } from "../../../../tools/llm-call/spec";
import { describeTools, getTool, internalTools } from "../../../../tools/registry";
import type { Tool } from "../../../../tools/tool";
import { stepSpend } from "../queries";
import type { AgentCallState, AgentState, AgentTurn, RunState, StepState } from "../state";

export type LlmCallInput = z.input<typeof llmCallInputSchema>;

/** The next model call's input, or why the step's budget cannot afford it. */
export type ModelCallPlan = { ok: true; input: LlmCallInput } | { ok: false; reason: "tokens" | "cost"; detail: string };

/** The executors a model's call may run under: what ends in the run or in a consumer on its own. */
const CALLABLE = new Set(["inline", "queue", "timer"]);

let described: ReturnType<typeof describeTools> | null = null;
/** The built-in catalogue's JSON Schemas, made once: they do not change while the code runs. */
const catalogue = () => (described ??= describeTools());

/** Why the model may not call `tool` in this step (null: it may). */
export function refusal(input: AgentInput, tool: string): string | null {
  const t = getTool(tool);
  // A tool only the engine dispatches (LLM.call) is no tool of the model's, whatever `tools` says.
  if (!t || internalTools.has(tool)) return `there is no tool named ${tool}`;
  const listed = input.tools ? allowsTool(input.tools, tool) : CALLABLE.has(t.executor) && offeredTools(undefined, [entryOf(t)]).length > 0;
  if (!listed) return `${tool} is not among the tools this agent may call`;
  // Listed by its exact name (a wildcard never lists it): a nested agent, run as a child run.
  if (tool === AGENT_TOOL) return null;
  if (!CALLABLE.has(t.executor)) return `${tool} waits for the outside or starts a run, which an agent's call cannot do`;
  return null;
}

const entryOf = (t: Tool) => ({ name: t.name, effects: t.executor === "queue" && t.effects });

/** The tools the model is offered, with their input as JSON Schema. */
export function offered(input: AgentInput) {
  const callable = catalogue().flatMap((d) => {
    const t = getTool(d.name);
    return t && (CALLABLE.has(t.executor) || t.name === AGENT_TOOL) ? [{ d, entry: entryOf(t) }] : [];
  });
  const names = new Set(
    offeredTools(
      input.tools,
      callable.map((c) => c.entry),
    ),
  );
  return callable
    .filter(({ d }) => names.has(d.name))
    .map(({ d }) => ({ name: d.name, description: d.description, input_schema: d.input_schema as Record<string, unknown> }));
}

function outcomeOf(c: AgentCallState): CallOutcome {
  switch (c.status) {
    case "succeeded":
      return { status: "succeeded", output: c.output };
    case "rejected":
      return { status: "rejected", ...(c.comment ? { comment: c.comment } : {}) };
    case "forbidden":
      return { status: "forbidden" };
    default:
      return { status: "failed", error: { code: c.error?.code ?? "step_failed", message: c.error?.message ?? "The call did not finish." } };
  }
}

/** The turns whose model answered, as the transcript records them. */
export function recordedTurns(turns: readonly AgentTurn[]): RecordedTurn[] {
  return turns
    .filter((t) => t.model.status === "succeeded")
    .map((t) => ({
      text: t.text,
      calls: t.calls.map((c) => ({ tool: c.tool, input: c.input, outcome: outcomeOf(c) })),
      ...(t.repair ? { repair: t.repair } : {}),
    }));
}

export const modelOf = (state: RunState, input: AgentInput): string => input.model ?? state.llm?.model ?? "";

/**
 * The last input built for each agent, by what determines it: the answered turns (the transcript,
 * the usage and the calibration change only with them) and the attempt (its reservation key). The
 * loop checks the budget before a turn begins and the attempt protocol then starts the call with
 * the same input (and a copy sent again, or a consumer's fetch, asks for it again): one build each.
 */
const built = new WeakMap<AgentState, { key: string; plan: ModelCallPlan }>();

/** The next model call of an agent step (its current turn's), or why its budget cannot afford it. */
export function modelCallInput(state: RunState, step: StepState, attempt = 1): ModelCallPlan {
  const agent = step.agent!;
  const key = `${agent.turns.filter((t) => t.model.status === "succeeded").length}:${attempt}`;
  const hit = built.get(agent);
  if (hit?.key === key) return hit.plan;
  const plan = buildModelCallInput(state, step, attempt);
  built.set(agent, { key, plan });
  return plan;
}

function buildModelCallInput(state: RunState, step: StepState, attempt: number): ModelCallPlan {
  const input = step.resolved_input as AgentInput;
  const agent = step.agent!;
  const model = modelOf(state, input);
  const price = state.llm?.prices[model];
  const next = prepareNextCall({
    goal: input.goal,
    system: input.system,
    turns: recordedTurns(agent.turns),
    model,
    tools: offered(input),
    budget: input.budget,
    spent: stepSpend(agent),
    price,
    calibration: agent.calibration ?? undefined,
    timeout_ms: state.options.step_timeout_ms,
  });
  if (!next.ok) return next;
  const turn = agent.turns.filter((t) => t.model.status === "succeeded").length + 1;
  // Patterns that may name the tenant's MCP tools: the consumer adds those tools to the offered ones.
  const mcp = (input.tools ?? []).filter((p) => p === "*" || p.startsWith("mcp"));
  const reservation =
    next.reservation_usd > 0
      ? { reservation_usd: next.reservation_usd, reservation_key: `${llmReservationKey(state.run_id, step.step_number, turn)}:a${attempt}` }
      : { reservation_usd: 0 };
  return {
    ok: true,
    input: {
      ...next.input,
      timeout_ms: state.options.step_timeout_ms,
      ...reservation,
      ...(price ? { price } : {}),
      ...(mcp.length ? { mcp_patterns: mcp } : {}),
      prompt_bytes: next.prompt_bytes,
    },
  };
}

/** What a call's reported usage cost, by the run's price table (0 for a model with no price). */
export function callCost(state: RunState, step: StepState, usage: Usage): number {
  const price = state.llm?.prices[modelOf(state, step.resolved_input as AgentInput)];
  return price ? costOf(price, usage) : 0;
}
