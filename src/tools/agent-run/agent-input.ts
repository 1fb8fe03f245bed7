// Agent.run's input and output: the step a model drives, calling tools and seeing their results
// until it answers. Limits are in UTF-8 bytes (what is stored and sent), not characters.
import { z } from "zod";
import { stepBudgetSchema } from "../../llm/budget";
import { usageSchema } from "../../llm/usage";
import { jsonSchemaProblems } from "./json-schema-shape";
import { TOOL_PATTERN } from "./tool-patterns";

export const MAX_GOAL_BYTES = 8 * 1024;
export const MAX_SYSTEM_BYTES = 8 * 1024;
export const MAX_OUTPUT_SCHEMA_BYTES = 16 * 1024;
export const MAX_TURNS = 50;
export const DEFAULT_MAX_TURNS = 10;
const MAX_TOOL_PATTERNS = 64;

const encoder = new TextEncoder();
const bytes = (s: string) => encoder.encode(s).byteLength;

function withinBytes(what: string, max: number) {
  return (value: string, ctx: z.RefinementCtx) => {
    const n = bytes(value);
    if (n > max) ctx.addIssue({ code: "custom", message: `The ${what} is ${n} bytes of UTF-8; the limit is ${max}.` });
  };
}

const toolPatternSchema = z
  .string()
  .max(200)
  .regex(TOOL_PATTERN, 'Give a tool name, or a prefix ending in "*" (e.g. "mcp.github.*").')
  .describe('A tool name, or a prefix ending in "*"');

const outputSchemaSchema = z
  .record(z.string(), z.unknown())
  .superRefine((schema, ctx) => {
    const n = bytes(JSON.stringify(schema));
    if (n > MAX_OUTPUT_SCHEMA_BYTES) ctx.addIssue({ code: "custom", message: `output_schema is ${n} bytes; the limit is ${MAX_OUTPUT_SCHEMA_BYTES}.` });
    else for (const problem of jsonSchemaProblems(schema)) ctx.addIssue({ code: "custom", message: `output_schema is not a JSON Schema: ${problem}` });
  })
  .describe("A JSON Schema the final answer must be JSON for");

export const agentInputSchema = z.strictObject({
  goal: z
    .string()
    .trim()
    .min(1, "Give the agent a goal.")
    .superRefine(withinBytes("goal", MAX_GOAL_BYTES))
    .describe(`What the agent is to achieve; at most ${MAX_GOAL_BYTES} bytes`),
  tools: z
    .array(toolPatternSchema)
    .min(1)
    .max(MAX_TOOL_PATTERNS)
    .optional()
    .describe(
      "Tools the model may call (wildcards allowed); default: every tool without side effects plus the TodoStore tools. Agent.run only when listed by name.",
    ),
  system: z.string().superRefine(withinBytes("system prompt", MAX_SYSTEM_BYTES)).optional().describe("Added to the agent's system prompt"),
  model: z.string().trim().min(1).max(200).optional().describe("The model; default LLM_MODEL"),
  max_turns: z
    .number()
    .int()
    .min(1)
    .max(MAX_TURNS)
    .default(DEFAULT_MAX_TURNS)
    .describe("Model calls (each with the tool calls it asks for) before the step fails with max_turns_exceeded"),
  budget: stepBudgetSchema.optional(),
  approve: z.array(toolPatternSchema).max(MAX_TOOL_PATTERNS).optional().describe("Tools (wildcards allowed) whose calls wait for a person's decision"),
  output_schema: outputSchemaSchema.optional(),
});
export type AgentInput = z.output<typeof agentInputSchema>;

export const agentOutputSchema = z.object({
  answer: z.union([z.string(), z.json()]).describe("The model's final text, or its JSON when output_schema is set"),
  turns: z.number().int().nonnegative(),
  tool_calls: z.number().int().nonnegative(),
  usage: usageSchema.extend({ cost_usd: z.number().nonnegative() }),
});
export type AgentOutput = z.infer<typeof agentOutputSchema>;
