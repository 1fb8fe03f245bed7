// The deterministic planner. Quoted text and URLs are set aside first (rules/quotes.ts), so nothing
// inside them splits; the prompt is then cut into clauses (rules/clauses.ts): "then" makes a clause
// wait for the group before it, "and" and "," let it run beside it. Each clause goes through the
// recognisers (rules/parse-clause.ts), which may look at the steps planned so far ("the result",
// "it", "the first one"). After a todo's title, "," ";" and "and" split off only what is harmless
// (rules/boundaries.ts): a prompt that adds a todo never plans a delete from its title. A step
// depends on the group before its clause and on every step whose output it uses, and on nothing it
// already waits for through another dependency.
//
// The planner either returns a plan that passes validatePlan or refuses, naming each part of the
// prompt it will not plan and why: it never hands on a plan whose error would be about a field the
// user did not write.
import { MAX_PLAN_STEPS, type PlanInput } from "../execution/plan-schema";
import { findReferences } from "./references";
import { expandApprovals, followingText, isApproval } from "./rules/approvals";
import { clauseStarts } from "./rules/boundaries";
import { planChildren } from "./rules/children";
import { splitClauses } from "./rules/clauses";
import { ClauseContext, excerpt, type PlannedStep } from "./rules/context";
import { parseClause, trimEnd } from "./rules/parse-clause";
import { maskQuotes, restore } from "./rules/quotes";
import { validatePlan } from "./validate-plan";

type Step = PlanInput["steps"][number];

/** A part of the prompt the planner will not plan; without a message it did not understand it. */
export interface Refusal {
  text: string;
  message?: string;
}

export type RulePlan = { ok: true; steps: Step[] } | { ok: false; unparsed: string[]; refusals: Refusal[] };

const refused = (refusals: Refusal[]): RulePlan => ({ ok: false, unparsed: refusals.map((r) => r.text), refusals });

// Where one clause ends and the next begins does not depend on what came before: a piece starts a
// clause when it would plan after a calculation, a new todo and a list ("and double it").
const PROBE: PlannedStep[] = [
  { step_number: 1, tool: "Calculator.evaluate", input: {} },
  { step_number: 2, tool: "TodoStore.add", input: {} },
  { step_number: 3, tool: "TodoStore.list", input: {} },
];

/** The plan a todo's title leaves: a piece split off a title is judged in it (rules/boundaries.ts). */
const AFTER_TITLE: PlannedStep[] = [{ step_number: 1, tool: "TodoStore.add", input: {} }];

/** `deps` without duplicates and without any step another of them already waits for. */
function direct(deps: number[], ancestors: readonly ReadonlySet<number>[]): number[] {
  const unique = [...new Set(deps)];
  return unique.filter((d) => !unique.some((other) => other !== d && ancestors[other - 1]?.has(d))).sort((a, b) => a - b);
}

export function planFromPrompt(prompt: string): RulePlan {
  const typed = findReferences(prompt);
  if (typed.length) {
    return refused([
      {
        text: excerpt(prompt.trim(), 120),
        message: `"{{steps.${typed[0]!.step_number}.output…}}" is how plan steps refer to each other; a prompt cannot contain it. Write the text without the double braces.`,
      },
    ]);
  }
  const children = planChildren(prompt, (child) => {
    const planned = planFromPrompt(child);
    return planned.ok ? null : refusalMessage(planned.refusals);
  });
  if (children) return children.ok ? { ok: true, steps: children.steps } : refused([{ text: excerpt(children.text, 120), message: children.refuse }]);
  const { text: masked, spans } = maskQuotes(prompt);
  const text = trimEnd(masked.replace(/\s+/g, " ").trim());
  const probe = new ClauseContext(PROBE, spans);
  const clauses = expandApprovals(splitClauses(text, clauseStarts(probe, new ClauseContext(AFTER_TITLE, spans))));

  const steps: Step[] = [];
  /** Every step each step waits for, directly or not (index: step_number - 1). */
  const ancestors: Set<number>[] = [];
  const clauseOf: string[] = [];
  const refusals: Refusal[] = [];
  let previousGroup: number[] = [];
  let currentGroup: number[] = [];
  for (const [index, clause] of clauses.entries()) {
    if (clause.sequential && currentGroup.length) {
      previousGroup = currentGroup;
      currentGroup = [];
    }
    const asTyped = restore(clause.text, spans).trim();
    const following = isApproval(clause.text) ? followingText(clauses, index, (t) => restore(t, spans)) : "";
    const result = parseClause(clause.text, new ClauseContext(steps, spans, following));
    if (!result || !Array.isArray(result)) {
      refusals.push(result ? { text: asTyped, message: result.refuse } : { text: asTyped });
      continue;
    }
    for (const [i, draft] of result.entries()) {
      const step_number = steps.length + 1;
      const uses = findReferences(draft.input).map((r) => r.step_number);
      const follows = draft.ordered && i > 0 ? [step_number - 1] : [];
      // Past the step limit the plan is refused anyway; its dependencies are not worth working out.
      const depends_on = steps.length < MAX_PLAN_STEPS ? direct([...previousGroup, ...uses, ...(draft.after ?? []), ...follows], ancestors) : [];
      ancestors.push(new Set(depends_on.flatMap((d) => [d, ...(ancestors[d - 1] ?? [])])));
      steps.push({ step_number, tool: draft.tool, input: draft.input, depends_on, reasoning: draft.reasoning });
      clauseOf.push(asTyped);
      currentGroup.push(step_number);
    }
  }
  if (refusals.length) return refused(refusals);
  if (steps.length === 0) return refused([{ text: restore(text, spans) || prompt.trim() }]);
  if (steps.length > MAX_PLAN_STEPS) {
    return refused([
      {
        text: excerpt(restore(text, spans), 120),
        message: `it asks for ${steps.length} steps and a plan has at most ${MAX_PLAN_STEPS}. Split it into smaller prompts.`,
      },
    ]);
  }
  // What a tool would refuse (a title over 500 characters, an expression too long) is refused here,
  // in the words of the clause that asked for it.
  const validation = validatePlan({ steps });
  if (!validation.ok) {
    const byClause = new Map<string, string>();
    for (const issue of validation.issues) {
      const clause = issue.step_number === undefined ? restore(text, spans) : (clauseOf[issue.step_number - 1] ?? restore(text, spans));
      if (!byClause.has(clause)) byClause.set(clause, issue.message.replace(/^[A-Za-z]+\.[A-Za-z]+: /, ""));
    }
    return refused([...byClause].map(([clause, message]) => ({ text: clause, message })));
  }
  return { ok: true, steps };
}

const GENERIC_HINT = 'Try phrasings like "calculate 2 + 3", "add a todo to buy milk", "list my todos" or "fetch <url>", joined by "and" or "then".';

/** One message for a refusal: what the planner did not understand, and why it would not plan the rest. */
export function refusalMessage(refusals: readonly Refusal[]): string {
  const quote = (r: Refusal) => `"${excerpt(r.text, 120)}"`;
  const unknown = refusals.filter((r) => !r.message);
  const parts = unknown.length ? [`The planner did not understand: ${unknown.map(quote).join(", ")}. ${GENERIC_HINT}`] : [];
  for (const r of refusals) if (r.message) parts.push(`The planner cannot plan ${quote(r)}: ${r.message}`);
  return parts.join(" ");
}
