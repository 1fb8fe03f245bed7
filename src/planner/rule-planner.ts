// The deterministic planner. A prompt is cut into clauses at "then" (sequential: the clause
// depends on every step of the group before it) and at "and" / "," (parallel: same dependencies
// as its group). A piece that is not a clause on its own ("milk" in "buy bread and milk") is
// glued back onto the one before. A clause that says "the result" also depends on the step before.
import type { PlanInput } from "./plan-schema";
import { parseClause, type ClauseStep } from "./clause-parsers";

export type RulePlan = { ok: true; steps: PlanInput["steps"] } | { ok: false; unparsed: string[] };

const SEPARATOR = /(\s*[,;]?\s*(?:and\s+)?then\b,?\s*|\s*;\s*|\s*,\s*(?:and\s+)?|\s+and\s+)/i;
const SEQUENTIAL = /then|;/i;

interface Clause {
  text: string;
  sequential: boolean;
}

function splitClauses(prompt: string): Clause[] {
  const parts = prompt.split(SEPARATOR);
  const clauses: Clause[] = [{ text: parts[0] ?? "", sequential: false }];
  for (let i = 1; i < parts.length; i += 2) {
    const sep = parts[i]!;
    const text = parts[i + 1] ?? "";
    // "then" always starts a new clause. After "and" or ",", a piece that parses on its own starts
    // one; anything else belongs to the clause before ("buy bread and milk").
    const sequential = SEQUENTIAL.test(sep);
    if (sequential || parseClause(text, { ref: () => "{{steps.1.output}}" })) clauses.push({ text, sequential });
    else clauses[clauses.length - 1]!.text += sep + text;
  }
  return clauses.filter((c) => c.text.trim());
}

export function planFromPrompt(prompt: string): RulePlan {
  const text = prompt.replace(/\s+/g, " ").trim();
  const steps: PlanInput["steps"] = [];
  const unparsed: string[] = [];
  let previousGroup: number[] = [];
  let currentGroup: number[] = [];

  for (const clause of splitClauses(text)) {
    if (clause.sequential && currentGroup.length) {
      previousGroup = currentGroup;
      currentGroup = [];
    }
    const last = steps.at(-1)?.step_number;
    let usedRef: number | undefined;
    const parsed: ClauseStep[] | undefined = parseClause(clause.text, {
      ref: (path = "") => {
        if (last === undefined) return undefined;
        usedRef = last;
        return `{{steps.${last}.output${path}}}`;
      },
    });
    if (!parsed) {
      unparsed.push(clause.text.trim());
      continue;
    }
    for (const s of parsed) {
      const deps = new Set(previousGroup);
      if (usedRef !== undefined) deps.add(usedRef);
      const step_number = steps.length + 1;
      steps.push({ step_number, tool: s.tool, input: s.input, depends_on: [...deps].sort((a, b) => a - b), reasoning: s.reasoning });
      currentGroup.push(step_number);
    }
  }
  if (unparsed.length || steps.length === 0) return { ok: false, unparsed: unparsed.length ? unparsed : [text] };
  return { ok: true, steps };
}
