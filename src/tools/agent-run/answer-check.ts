// The final answer when Agent.run has an output_schema: JSON that validates. The first answer that
// does not gets one repair turn, with the problems spelled out; a second bad answer fails the step
// with `invalid_output`.
import { checkJsonSchema } from "../mcp/json-schema-check";

export type AnswerCheck = { ok: true; answer: unknown } | { ok: false; repair: string } | { ok: false; code: "invalid_output"; message: string };

/** Models often wrap JSON in a Markdown fence even when told not to; the fence is not the answer. */
function unfence(text: string): string {
  const m = /^\s*```(?:json)?\s*\n([\s\S]*?)\n\s*```\s*$/i.exec(text);
  return (m ? m[1]! : text).trim();
}

export function repairPrompt(problems: readonly string[], schema: Record<string, unknown>): string {
  return [
    "Your answer cannot be used:",
    ...problems.map((p) => `- ${p}`),
    `Answer again with JSON only (no prose, no Markdown, no tool calls) that validates against this JSON Schema:`,
    JSON.stringify(schema),
  ].join("\n");
}

/** `repaired`: the model already had its repair turn. */
export function checkAnswer(text: string, schema: Record<string, unknown>, repaired: boolean): AnswerCheck {
  let value: unknown;
  let problems: string[];
  try {
    value = JSON.parse(unfence(text));
    problems = checkJsonSchema(schema, value).map((i) => `${i.path.length ? i.path.join(".") : "the answer"}: ${i.message}`);
  } catch {
    problems = ["it is not JSON"];
  }
  if (problems.length === 0) return { ok: true, answer: value };
  if (!repaired) return { ok: false, repair: repairPrompt(problems, schema) };
  return { ok: false, code: "invalid_output", message: `The answer does not match output_schema after a repair turn: ${problems.join("; ")}` };
}
