// APPROVAL_REQUIRED_TOOLS: tools that never run without a person's yes. Every plan passes through
// makePlan, whichever planner wrote it, and there each step of such a tool gets a Human.approve
// step in front of it. The setting is configuration, read with no I/O: `Tool.name` entries hold
// for every tenant, `tenant:Tool.name` entries for that tenant only, so no plan pays a lookup.
import type { PlanInput, PlanStep } from "../execution/plan-schema";
import { findReferences } from "./references";

const APPROVAL_TOOL = "Human.approve";
/** Human.approve's message limit; the summary of a long input is cut well before it. */
const MAX_INPUT_SUMMARY = 600;

/** The tools `tenant` must approve before they run, from the comma-separated setting. */
export function approvalRequiredTools(setting: string | undefined, tenant: string): Set<string> {
  const tools = new Set<string>();
  for (const raw of (setting ?? "").split(",")) {
    const entry = raw.trim();
    if (!entry) continue;
    const colon = entry.indexOf(":");
    if (colon === -1) tools.add(entry);
    else if (entry.slice(0, colon).trim() === tenant) tools.add(entry.slice(colon + 1).trim());
  }
  tools.delete(APPROVAL_TOOL);
  return tools;
}

/**
 * The step's input for a person to read. References become words ("step 2's todo.id"): the
 * message is fixed at plan time, so a large output can never push it past the tool's limit.
 */
function describeInput(input: Record<string, unknown>): string {
  let text = JSON.stringify(input);
  for (const ref of findReferences(input)) {
    const what = ref.path.length ? `step ${ref.step_number}'s ${ref.path.join(".")}` : `step ${ref.step_number}'s output`;
    text = text.replace(/\{\{\s*steps\.\d+\.output(?:\.[A-Za-z0-9_-]+)*\s*\}\}/, `‹${what}›`);
  }
  return text.length > MAX_INPUT_SUMMARY ? `${text.slice(0, MAX_INPUT_SUMMARY)}…` : text;
}

export function approvalMessage(step: Pick<PlanStep, "step_number" | "tool" | "input">): string {
  return `Allow step ${step.step_number}, ${step.tool} with ${describeInput(step.input)}?`;
}

/**
 * The plan with a Human.approve step in front of each step whose tool is in `tools`, unless it
 * already waits directly on one. Nothing is renumbered (references and other fields stay as
 * written): each approval takes the next free number, sits just before its step in the list,
 * waits for what that step waits for, and the step waits for it too.
 */
export function withRequiredApprovals(steps: readonly PlanStep[], tools: ReadonlySet<string>): PlanInput["steps"] | null {
  if (tools.size === 0) return null;
  const approvals = new Set(steps.filter((s) => s.tool === APPROVAL_TOOL).map((s) => s.step_number));
  const gated = steps.filter((s) => tools.has(s.tool) && !s.depends_on.some((d) => approvals.has(d)));
  if (gated.length === 0) return null;
  let next = Math.max(...steps.map((s) => s.step_number));
  const out: PlanInput["steps"] = [];
  for (const s of steps) {
    if (!gated.includes(s)) {
      out.push(s);
      continue;
    }
    const approval = ++next;
    out.push({
      step_number: approval,
      tool: APPROVAL_TOOL,
      input: { message: approvalMessage(s) },
      depends_on: s.depends_on,
      reasoning: `${s.tool} needs a person's approval before it runs (APPROVAL_REQUIRED_TOOLS).`,
    });
    out.push({ ...s, depends_on: [...s.depends_on, approval] });
  }
  return out;
}
