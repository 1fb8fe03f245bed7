/**
 * `crane agent "GOAL"`: a run of one Agent.run step (POST /runs `{ agent: {...} }`), submitted and
 * followed like `crane run`. The options become the agent's input. Each option's own range is
 * checked here (a usage error, exit 2, before anything is sent); the server checks the whole input
 * with Agent.run's schema (src/tools/agent-run/agent-input.ts) and answers 400 with the problem.
 * That schema is not imported: Node runs the CLI by stripping types, and the Worker's modules
 * import without file extensions, which Node cannot resolve.
 */
import { type Command, InvalidArgumentError, Option } from "commander";
import { DEFAULT_WAIT_S, submitRun, type RunCommandIO } from "./run-command.ts";

/** Agent.run's max_turns limit (MAX_TURNS in src/tools/agent-run/agent-input.ts). */
export const MAX_TURNS = 50;

export interface AgentOptions {
  tools?: string[];
  approve?: string[];
  maxTurns?: number;
  maxTokens?: number;
  maxCostUsd?: number;
  model?: string;
  system?: string;
}

/** "a,b" and repeated flags alike: `--tools a,b --tools c` → ["a", "b", "c"]. */
export function collectNames(raw: string, previous: string[] = []): string[] {
  const names = raw
    .split(",")
    .map((n) => n.trim())
    .filter(Boolean);
  if (names.length === 0) throw new InvalidArgumentError("Give tool names, separated by commas.");
  return [...previous, ...names];
}

function positiveInt(max?: number) {
  return (raw: string): number => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1 || (max !== undefined && n > max))
      throw new InvalidArgumentError(`Give a whole number from 1${max ? ` to ${max}` : ""}.`);
    return n;
  };
}

function positiveUsd(raw: string): number {
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError("Give an amount in USD, more than 0.");
  return n;
}

/** The `agent` object POST /runs takes. */
export function agentBody(goal: string, o: AgentOptions): Record<string, unknown> {
  const budget = {
    ...(o.maxTokens !== undefined ? { max_tokens: o.maxTokens } : {}),
    ...(o.maxCostUsd !== undefined ? { max_cost_usd: o.maxCostUsd } : {}),
  };
  return {
    goal,
    ...(o.tools ? { tools: o.tools } : {}),
    ...(o.approve ? { approve: o.approve } : {}),
    ...(o.maxTurns !== undefined ? { max_turns: o.maxTurns } : {}),
    ...(Object.keys(budget).length ? { budget } : {}),
    ...(o.model ? { model: o.model } : {}),
    ...(o.system ? { system: o.system } : {}),
  };
}

export function addAgentCommand(program: Command, io: () => RunCommandIO, json: () => boolean): void {
  program
    .command("agent")
    .description("run an agent: a model calls tools, sees their results and answers (followed live)")
    .argument("<goal>", "what the agent is to achieve, in plain words")
    .addOption(
      new Option(
        "--tools <names>",
        'tools it may call, comma-separated; "mcp.github.*" wildcards (default: tools without side effects and TodoStore)',
      ).argParser(collectNames),
    )
    .addOption(new Option("--approve <names>", "tools whose calls wait for your decision, comma-separated").argParser(collectNames))
    .addOption(new Option("--max-turns <n>", `model calls before it gives up (1-${MAX_TURNS}, default 10)`).argParser(positiveInt(MAX_TURNS)))
    .addOption(new Option("--max-tokens <n>", "tokens the whole agent may use").argParser(positiveInt()))
    .addOption(new Option("--max-cost-usd <usd>", "dollars the whole agent may spend (the model needs a price in LLM_PRICES)").argParser(positiveUsd))
    .option("--model <model>", "the model (default: the server's LLM_MODEL)")
    .option("--system <text>", "added to the agent's system prompt")
    .option("--no-follow", "print the run as submitted instead of following it")
    .action(async (goal: string, opts: AgentOptions & { follow: boolean }) => {
      // Followed, it is watched from its first event, so the model's text shows as it is written;
      // not followed, the server may hold the answer a few seconds, as `crane run` lets it.
      const wait = opts.follow ? 0 : DEFAULT_WAIT_S;
      process.exitCode = await submitRun({ agent: agentBody(goal, opts) }, { follow: opts.follow, wait, json: json() }, io());
    });
}
