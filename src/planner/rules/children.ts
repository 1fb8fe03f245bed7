// Prompts that start child runs (Run.start), recognised on the whole prompt before it is cut into
// clauses, since what follows the lead-in is the child's own prompt:
// - "as a sub-task, <task>": one child for <task>, waited for; the run ends with its outcome.
// - "in parallel, for each of: a, b, c, <task>": one child per item, side by side, each with
//   <task> about its item (the item replaces "{item}" or the word "it", or ends the task), then a
//   Run.collect step so the run ends with their results in the items' order.
// Each child's prompt must plan on its own (with these same rules), so a prompt whose sub-task the
// planner cannot do is refused now, as a 400, not later as a failed step.
import { MAX_PLAN_STEPS, type PlanInput } from "../../execution/plan-schema";
import { maskQuotes, quotedOnly, restore } from "./quotes";

type Step = PlanInput["steps"][number];
export type ChildPlan = { ok: true; steps: Step[] } | { ok: false; refuse: string; text: string };

const SUB_TASK = /^as an? sub-?task\s*[,:]\s*(.+)$/is;
const FOR_EACH = /^in parallel\s*[,:]?\s*for each of\s*:?\s*(.+)$/is;

/** The child's prompt for one item of a fan-out. */
export function taskFor(task: string, item: string): string {
  if (task.includes("{item}")) return task.replaceAll("{item}", item);
  if (/\bit\b/i.test(task)) return task.replace(/\bit\b/i, item);
  return `${task} ${item}`;
}

/** Splits "a, b and c, <task>" into its items and the task (quoted items keep their commas). */
function itemsAndTask(rest: string): { items: string[]; task: string } | undefined {
  const { text, spans } = maskQuotes(rest);
  const parts = text.split(",").map((p) => p.trim());
  if (parts.length < 2) return undefined;
  const task = restore(parts.pop()!, spans).trim();
  const last = parts.pop()!;
  const items = [...parts, ...last.split(/\s+and\s+/)].map((p) => p.trim()).filter(Boolean);
  return { items: items.map((p) => quotedOnly(p, spans) ?? restore(p, spans)), task };
}

/**
 * The plan for a prompt that starts children, or undefined when it does not begin with one of the
 * lead-ins. `plans` says whether a child's prompt can be planned (the rule planner itself).
 */
export function planChildren(prompt: string, plans: (childPrompt: string) => string | null): ChildPlan | undefined {
  const text = prompt.trim();
  const sub = SUB_TASK.exec(text);
  if (sub) {
    const task = sub[1]!.trim();
    const refusal = plans(task);
    if (refusal !== null) return { ok: false, text, refuse: `the sub-task cannot be planned: ${refusal}` };
    return {
      ok: true,
      steps: [{ step_number: 1, tool: "Run.start", input: { prompt: task }, depends_on: [], reasoning: "Run the sub-task as a child run and wait for it." }],
    };
  }
  const each = FOR_EACH.exec(text);
  if (!each) return undefined;
  const split = itemsAndTask(each[1]!);
  if (!split || split.items.length === 0 || !split.task)
    return { ok: false, text, refuse: 'write the items, then the task, separated by commas: "in parallel, for each of: a, b, c, <task>".' };
  const { items, task } = split;
  if (items.length + 1 > MAX_PLAN_STEPS)
    return { ok: false, text, refuse: `it asks for ${items.length} children and a plan has at most ${MAX_PLAN_STEPS - 1} of them.` };
  const steps: Step[] = [];
  for (const [i, item] of items.entries()) {
    const child = taskFor(task, item);
    const refusal = plans(child);
    if (refusal !== null) return { ok: false, text, refuse: `the task for "${item}" ("${child}") cannot be planned: ${refusal}` };
    steps.push({
      step_number: i + 1,
      tool: "Run.start",
      input: { prompt: child },
      depends_on: [],
      reasoning: `Child run for "${item}", side by side with the others.`,
    });
  }
  steps.push({
    step_number: items.length + 1,
    tool: "Run.collect",
    input: { values: items.map((_item, i) => `{{steps.${i + 1}.output.result}}`) },
    depends_on: items.map((_item, i) => i + 1),
    reasoning: "Gather the children's results, in the items' order.",
  });
  return { ok: true, steps };
}
