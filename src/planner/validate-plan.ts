// Every plan, whoever wrote it (rule planner, a client, an LLM), passes through here: known tools,
// inputs that match the tool's schema, dependencies that exist, references only to steps the step
// depends on, no whole reference to an object where text or a number is needed, no cycles, at
// most 50 steps. A tenant's MCP tools (`mcp.<server>.<tool>`) are known when its catalogue has
// them, and their inputs are checked against the server's JSON Schema.
import type { z } from "zod";
import { checkJsonSchema } from "../tools/mcp/json-schema-check";
import { EMPTY_CATALOGUE, type McpCatalogue } from "../tools/mcp/mcp-catalogue";
import { parseMcpToolName } from "../tools/mcp/mcp-types";
import { getTool, tools } from "../tools/registry";
import { planInputSchema, type PlanIssue, type PlanStep } from "../execution/plan-schema";
import { referenceTypeIssues } from "./reference-types";
import { findReferences, isWholeReference, ownInput } from "./references";

export type PlanValidation = { ok: true; steps: PlanStep[] } | { ok: false; issues: PlanIssue[] };

export function zodIssuesToPlanIssues(error: z.ZodError, prefix: (string | number)[] = []): PlanIssue[] {
  return error.issues.map((i) => ({ path: [...prefix, ...i.path.map((p) => (typeof p === "symbol" ? String(p) : p))], code: i.code, message: i.message }));
}

function suggestTool(name: string, mcp: McpCatalogue): string {
  const lower = name.toLowerCase();
  if (parseMcpToolName(name)) {
    const server = name.slice(0, name.indexOf(".", 4) + 1);
    const same = [...mcp.keys()].filter((t) => t.startsWith(server));
    return same.length ? ` That server's tools: ${same.join(", ")}.` : " No MCP server of this tenant has that name (GET /api/v1/mcp-servers lists them).";
  }
  const close = [...tools.keys()].find((t) => t.toLowerCase() === lower || t.toLowerCase().startsWith(lower.split(".")[0] ?? ""));
  return close ? ` Did you mean "${close}"?` : ` Known tools: ${[...tools.keys()].join(", ")}.`;
}

/** Every step reachable backwards from `start` through depends_on. */
function ancestors(start: number, deps: Map<number, number[]>): Set<number> {
  const seen = new Set<number>();
  const stack = [...(deps.get(start) ?? [])];
  while (stack.length) {
    const n = stack.pop()!;
    if (seen.has(n)) continue;
    seen.add(n);
    stack.push(...(deps.get(n) ?? []));
  }
  return seen;
}

function findCycle(deps: Map<number, number[]>): number[] | undefined {
  const state = new Map<number, "visiting" | "done">();
  const path: number[] = [];
  const visit = (n: number): number[] | undefined => {
    if (state.get(n) === "done") return undefined;
    if (state.get(n) === "visiting") return [...path.slice(path.indexOf(n)), n];
    state.set(n, "visiting");
    path.push(n);
    for (const d of deps.get(n) ?? []) {
      const cycle = visit(d);
      if (cycle) return cycle;
    }
    path.pop();
    state.set(n, "done");
    return undefined;
  };
  for (const n of deps.keys()) {
    const cycle = visit(n);
    if (cycle) return cycle;
  }
  return undefined;
}

/** A tool the plan may name: a built-in one, or one of the tenant's MCP tools. */
const known = (name: string, mcp: McpCatalogue) => (parseMcpToolName(name) ? mcp.has(name) : getTool(name) !== undefined);

type ToolCall = { tool: string; input: Record<string, unknown> };

/** The input's problems against the tool's schema (zod for built-in tools, JSON Schema for MCP tools). */
function schemaIssues(call: ToolCall, mcp: McpCatalogue): { path: PropertyKey[]; message: string }[] {
  const entry = mcp.get(call.tool);
  if (entry) return checkJsonSchema(entry.input_schema, call.input);
  const tool = parseMcpToolName(call.tool) ? undefined : getTool(call.tool);
  if (!tool) return [];
  const result = tool.input_schema.safeParse(call.input);
  return result.success ? [] : result.error.issues;
}

/** Input as the tool will see it at plan time: whole references may stand for any type. */
function inputIssues(call: ToolCall, stepNumber: number, at: (string | number)[], mcp: McpCatalogue): PlanIssue[] {
  return schemaIssues(call, mcp)
    .filter((issue) => {
      let v: unknown = call.input;
      for (const p of issue.path) v = v && typeof v === "object" ? (v as Record<PropertyKey, unknown>)[p] : undefined;
      return !isWholeReference(v);
    })
    .map((issue) => ({
      step_number: stepNumber,
      path: [...at, ...issue.path.map((p) => (typeof p === "symbol" ? String(p) : p))],
      code: "invalid_input",
      message: `${call.tool}: ${issue.message}`,
    }));
}

/**
 * A compensation runs at once when the run fails, so its tool must be one that acts (inline or
 * queued), and it may use only outputs that exist whenever the step succeeded: its own and those
 * of the steps it depends on.
 */
function compensationIssues(s: PlanStep, i: number, before: ReadonlySet<number>, mcp: McpCatalogue): PlanIssue[] {
  const c = s.compensate;
  if (!c) return [];
  const at = ["steps", i, "compensate"];
  if (!known(c.tool, mcp))
    return [{ step_number: s.step_number, path: [...at, "tool"], code: "unknown_tool", message: `No tool is named "${c.tool}".${suggestTool(c.tool, mcp)}` }];
  const executor = getTool(c.tool)?.executor; // an MCP tool is a queued call, so it acts
  if (executor !== "inline" && executor !== "queue") {
    return [
      {
        step_number: s.step_number,
        path: [...at, "tool"],
        code: "invalid_compensation",
        message: `${c.tool} waits rather than acts, so it cannot undo step ${s.step_number}; use a tool that acts (e.g. TodoStore.delete).`,
      },
    ];
  }
  const issues = inputIssues(c, s.step_number, [...at, "input"], mcp);
  for (const ref of findReferences(c.input)) {
    if (ref.step_number === s.step_number || before.has(ref.step_number)) continue;
    issues.push({
      step_number: s.step_number,
      path: [...at, "input", ...ref.at],
      code: "compensation_reference",
      message: `Step ${s.step_number}'s compensation uses step ${ref.step_number}'s output; it may use only its own step's output and the outputs that step depends on.`,
    });
  }
  return issues;
}

export function validatePlan(raw: unknown, mcp: McpCatalogue = EMPTY_CATALOGUE): PlanValidation {
  const parsed = planInputSchema.safeParse(raw);
  if (!parsed.success) return { ok: false, issues: zodIssuesToPlanIssues(parsed.error) };
  const steps: PlanStep[] = parsed.data.steps.map((s) => ({
    step_number: s.step_number,
    tool: s.tool,
    input: s.input,
    depends_on: [...new Set(s.depends_on)].sort((a, b) => a - b),
    reasoning: s.reasoning ?? "",
    ...(s.compensate !== undefined ? { compensate: s.compensate } : {}),
  }));
  // (The schema already caps the number of steps at MAX_PLAN_STEPS.)
  const issues: PlanIssue[] = [];

  const numbers = new Set<number>();
  steps.forEach((s, i) => {
    if (numbers.has(s.step_number)) {
      issues.push({
        step_number: s.step_number,
        path: ["steps", i, "step_number"],
        code: "duplicate_step",
        message: `Step number ${s.step_number} is used twice.`,
      });
    }
    numbers.add(s.step_number);
  });
  const deps = new Map(steps.map((s) => [s.step_number, s.depends_on]));
  const toolOf = new Map(steps.map((s) => [s.step_number, s.tool]));

  steps.forEach((s, i) => {
    if (!known(s.tool, mcp)) {
      issues.push({
        step_number: s.step_number,
        path: ["steps", i, "tool"],
        code: "unknown_tool",
        message: `No tool is named "${s.tool}".${suggestTool(s.tool, mcp)}`,
      });
    }
    for (const d of s.depends_on) {
      if (d === s.step_number)
        issues.push({ step_number: s.step_number, path: ["steps", i, "depends_on"], code: "self_dependency", message: `Step ${d} depends on itself.` });
      else if (!numbers.has(d))
        issues.push({
          step_number: s.step_number,
          path: ["steps", i, "depends_on"],
          code: "unknown_dependency",
          message: `Step ${s.step_number} depends on step ${d}, which does not exist.`,
        });
    }
    const before = ancestors(s.step_number, deps);
    for (const ref of findReferences(ownInput(s.tool, s.input))) {
      if (!numbers.has(ref.step_number)) {
        issues.push({
          step_number: s.step_number,
          path: ["steps", i, "input", ...ref.at],
          code: "unknown_reference",
          message: `Step ${s.step_number} refers to step ${ref.step_number}, which does not exist.`,
        });
      } else if (!before.has(ref.step_number)) {
        issues.push({
          step_number: s.step_number,
          path: ["steps", i, "input", ...ref.at],
          code: "reference_without_dependency",
          message: `Step ${s.step_number} uses step ${ref.step_number}'s output but does not depend on it; add ${ref.step_number} to depends_on.`,
        });
      }
    }
    const shapeIssues = inputIssues(s, s.step_number, ["steps", i, "input"], mcp);
    issues.push(...shapeIssues);
    // A child's plan written into the step is checked now, as the child would check it.
    if (s.tool === "Run.start" && shapeIssues.length === 0 && s.input.plan !== undefined) {
      const child = validatePlan(s.input.plan, mcp);
      if (!child.ok)
        for (const issue of child.issues)
          issues.push({
            ...issue,
            step_number: s.step_number,
            path: ["steps", i, "input", "plan", ...issue.path],
            message: `In the child's plan: ${issue.message}`,
          });
    }
    issues.push(...compensationIssues(s, i, before, mcp));
    issues.push(...referenceTypeIssues(s, i, toolOf));
  });

  const cycle = findCycle(deps);
  if (cycle)
    issues.push({ step_number: cycle[0]!, path: ["steps"], code: "dependency_cycle", message: `Steps depend on each other in a cycle: ${cycle.join(" → ")}.` });

  return issues.length ? { ok: false, issues } : { ok: true, steps };
}
