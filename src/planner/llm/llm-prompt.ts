// What the model is told: the tool catalogue with JSON Schemas, the plan format, a few examples.
import type { McpCatalogue } from "../../tools/mcp/mcp-catalogue";
import { describeCatalogue } from "../../tools/registry";
import { MAX_PLAN_STEPS } from "../../execution/plan-schema";

const EXAMPLES = [
  {
    prompt: "calculate 2 + 3 and calculate 4 * 5, then list my todos",
    plan: {
      steps: [
        { step_number: 1, tool: "Calculator.evaluate", input: { expression: "2 + 3" }, depends_on: [], reasoning: "independent arithmetic" },
        {
          step_number: 2,
          tool: "Calculator.evaluate",
          input: { expression: "4 * 5" },
          depends_on: [],
          reasoning: "independent arithmetic, runs in parallel with step 1",
        },
        { step_number: 3, tool: "TodoStore.list", input: { status: "all" }, depends_on: [1, 2], reasoning: '"then" waits for both' },
      ],
    },
  },
  {
    prompt: "add a todo to call mom, then mark it done",
    plan: {
      steps: [
        { step_number: 1, tool: "TodoStore.add", input: { title: "call mom" }, depends_on: [], reasoning: "create the todo" },
        { step_number: 2, tool: "TodoStore.complete", input: { id: "{{steps.1.output.todo.id}}" }, depends_on: [1], reasoning: "uses the new todo's id" },
      ],
    },
  },
  {
    prompt: "ask me before deleting todo 3",
    plan: {
      steps: [
        { step_number: 1, tool: "Human.approve", input: { message: "Delete todo 3?" }, depends_on: [], reasoning: "the user wants to approve first" },
        { step_number: 2, tool: "TodoStore.delete", input: { id: 3 }, depends_on: [1], reasoning: "runs only once approved" },
      ],
    },
  },
];

let cached: string | undefined;

/**
 * Built once per isolate for the built-in catalogue, which does not change while it runs; a
 * tenant with MCP tools gets its own, built for the request.
 */
export function systemPrompt(mcp?: McpCatalogue): string {
  if (mcp && mcp.size > 0) return build(mcp);
  return (cached ??= build(new Map()));
}

function build(mcp: McpCatalogue): string {
  return [
    "You turn a user's task into a plan: a DAG of tool calls. Answer with JSON only, no prose.",
    `The plan is {"steps": [...]} with at most ${MAX_PLAN_STEPS} steps. Each step: step_number (1, 2, 3, ...), tool (one of the tools below, exactly as named), input (matching the tool's input schema), depends_on (step numbers that must finish first; [] when none), reasoning (one short sentence).`,
    'Steps that do not depend on each other run in parallel. To use an earlier step\'s output, write "{{steps.N.output}}" (or a path such as "{{steps.N.output.todo.id}}") as the value, and put N in depends_on.',
    "Use only these tools:",
    JSON.stringify(describeCatalogue(mcp)),
    "Examples:",
    ...EXAMPLES.map((e) => `Task: ${e.prompt}\nPlan: ${JSON.stringify(e.plan)}`),
  ].join("\n\n");
}

export function repairPrompt(problems: string[]): string {
  return `That plan cannot run:\n${problems.map((p) => `- ${p}`).join("\n")}\nReturn the corrected plan as JSON only.`;
}
