import { describe, expect, it } from "vitest";
import type { PlanIssue } from "../src/execution/plan-schema";
import { validatePlan } from "../src/planner/validate-plan";
import { tools } from "../src/tools/registry";

type RawStep = Record<string, unknown>;

const calc = (step_number: number, extra: RawStep = {}): RawStep => ({ step_number, tool: "Calculator.evaluate", input: { expression: "1 + 1" }, ...extra });
const addTodo = (step_number: number, extra: RawStep = {}): RawStep => ({ step_number, tool: "TodoStore.add", input: { title: "buy milk" }, ...extra });

function issuesOf(raw: unknown): PlanIssue[] {
  const result = validatePlan(raw);
  if (result.ok) expect.fail(`expected the plan to be invalid, but it passed: ${JSON.stringify(raw)}`);
  return result.issues;
}

function expectValid(raw: unknown) {
  const result = validatePlan(raw);
  if (!result.ok) expect.fail(`expected a valid plan, got ${JSON.stringify(result.issues)}`);
  return result.steps;
}

const codes = (issues: PlanIssue[]) => issues.map((i) => i.code);

describe("validatePlan: a valid plan", () => {
  it("accepts a plan and normalises its steps", () => {
    const steps = expectValid({
      steps: [
        calc(1),
        addTodo(2, { input: { title: "{{steps.1.output}}" }, depends_on: [1, 1], reasoning: "save it" }),
        { step_number: 3, tool: "TodoStore.list", input: { status: "open" }, depends_on: [2, 1] },
      ],
    });
    expect(steps).toEqual([
      { step_number: 1, tool: "Calculator.evaluate", input: { expression: "1 + 1" }, depends_on: [], reasoning: "" },
      { step_number: 2, tool: "TodoStore.add", input: { title: "{{steps.1.output}}" }, depends_on: [1], reasoning: "save it" },
      { step_number: 3, tool: "TodoStore.list", input: { status: "open" }, depends_on: [1, 2], reasoning: "" },
    ]);
  });

  it("accepts every registered tool with a well-formed input", () => {
    const inputs: Record<string, Record<string, unknown>> = {
      "Calculator.evaluate": { expression: "2 + 3" },
      "TodoStore.add": { title: "x" },
      "TodoStore.list": {},
      "TodoStore.get": { id: 1 },
      "TodoStore.complete": { title: "x" },
      "TodoStore.delete": { id: 2 },
      "TodoStore.reopen": { id: 3 },
      "Http.get": { url: "https://example.com/" },
      "Wait.sleep": { seconds: 1 },
      "Wait.signal": { name: "go" },
      "Human.approve": { message: "ok?", timeout_seconds: 60, on_timeout: "approve" },
      "Run.start": { prompt: "calculate 2 + 3" },
      "Run.collect": { values: [1, 2] },
      "Agent.run": { goal: "pick the cheapest page and add it as a todo", tools: ["Http.get", "TodoStore.*"], max_turns: 5 },
    };
    expect(new Set(tools.keys())).toEqual(new Set(Object.keys(inputs)));
    expectValid({ steps: Object.entries(inputs).map(([tool, input], i) => ({ step_number: i + 1, tool, input })) });
  });

  it("refuses a Run.start that gives both a prompt and a plan, or neither, at plan time", () => {
    for (const input of [{ prompt: "calculate 1 + 1", plan: { steps: [calc(1)] } }, { wait: true }]) {
      const result = validatePlan({ steps: [{ step_number: 1, tool: "Run.start", input }] });
      expect(result).toMatchObject({ ok: false, issues: [{ code: "invalid_input", message: "Run.start: Give exactly one of prompt and plan." }] });
    }
  });

  it("refuses a Run.start whose nested plan is malformed, pointing into it", () => {
    const result = validatePlan({ steps: [{ step_number: 1, tool: "Run.start", input: { plan: { steps: [] } } }] });
    expect(result).toMatchObject({ ok: false, issues: [{ code: "invalid_input", path: ["steps", 0, "input", "plan", "steps"] }] });
  });

  it("leaves a Run.start's nested plan its own references, and checks that plan as the child would", () => {
    const nested = { steps: [calc(1), { step_number: 2, tool: "Calculator.evaluate", input: { expression: "{{steps.1.output}} * 2" }, depends_on: [1] }] };
    expectValid({ steps: [{ step_number: 1, tool: "Run.start", input: { plan: nested } }] });
    const broken = { steps: [calc(1), { step_number: 2, tool: "Calculator.evaluate", input: { expression: "{{steps.1.output}} * 2" } }] };
    const result = validatePlan({ steps: [{ step_number: 1, tool: "Run.start", input: { plan: broken } }] });
    expect(result).toMatchObject({
      ok: false,
      issues: [{ step_number: 1, code: "reference_without_dependency", path: ["steps", 0, "input", "plan", "steps", 1, "input", "expression"] }],
    });
    expect((result as { issues: { message: string }[] }).issues[0]!.message).toMatch(/^In the child's plan: /);
  });

  it("does not require steps to be numbered 1..n or listed in order", () => {
    const steps = expectValid({ steps: [calc(7, { depends_on: [3] }), calc(3)] });
    expect(steps.map((s) => s.step_number)).toEqual([7, 3]);
  });

  it("accepts exactly 50 steps", () => {
    expectValid({ steps: Array.from({ length: 50 }, (_, i) => calc(i + 1)) });
  });

  it("accepts a reference to a step reached only transitively", () => {
    expectValid({
      steps: [calc(1), calc(2, { depends_on: [1] }), addTodo(3, { input: { title: "{{steps.1.output}}" }, depends_on: [2] })],
    });
  });

  it("accepts a whole reference where a number is expected, once the step depends on it", () => {
    expectValid({
      steps: [addTodo(1), { step_number: 2, tool: "TodoStore.complete", input: { id: "{{steps.1.output.todo.id}}" }, depends_on: [1] }],
    });
    expectValid({
      steps: [addTodo(1), { step_number: 2, tool: "TodoStore.get", input: { id: "{{steps.1.output.todo.id}}" }, depends_on: [1] }],
    });
    expectValid({
      steps: [calc(1), { step_number: 2, tool: "Wait.sleep", input: { seconds: "{{steps.1.output}}" }, depends_on: [1] }],
    });
  });
});

describe("validatePlan: shape errors (zod)", () => {
  it("rejects something that is not a plan at all", () => {
    for (const raw of [null, undefined, 42, "plan", []]) {
      const issues = issuesOf(raw);
      expect(issues.length).toBeGreaterThan(0);
      expect(codes(issues)).toContain("invalid_type");
    }
  });

  it("requires steps", () => {
    expect(issuesOf({})).toEqual([expect.objectContaining({ code: "invalid_type", path: ["steps"] })]);
  });

  it("requires at least one step", () => {
    const issues = issuesOf({ steps: [] });
    expect(issues).toEqual([expect.objectContaining({ code: "too_small", path: ["steps"] })]);
    expect(issues[0]!.message).toMatch(/at least one step/);
  });

  it("rejects more than 50 steps", () => {
    const issues = issuesOf({ steps: Array.from({ length: 51 }, (_, i) => calc(i + 1)) });
    expect(issues).toEqual([expect.objectContaining({ code: "too_big", path: ["steps"] })]);
    expect(issues[0]!.message).toContain("50");
  });

  it("rejects unknown fields on the plan", () => {
    const issues = issuesOf({ steps: [calc(1)], plan_id: "p1" });
    expect(issues).toEqual([expect.objectContaining({ code: "unrecognized_keys", path: [] })]);
    expect(issues[0]!.message).toContain("plan_id");
  });

  it("rejects unknown fields on a step, pointing at the step", () => {
    const issues = issuesOf({ steps: [calc(1), calc(2, { dependsOn: [1] })] });
    expect(issues).toEqual([expect.objectContaining({ code: "unrecognized_keys", path: ["steps", 1] })]);
    expect(issues[0]!.message).toContain("dependsOn");
  });

  it.each<[string, RawStep, (string | number)[], string]>([
    ["a missing step_number", { tool: "Calculator.evaluate", input: { expression: "1" } }, ["steps", 0, "step_number"], "invalid_type"],
    ["step_number 0", calc(0), ["steps", 0, "step_number"], "too_small"],
    ["a fractional step_number", calc(1.5), ["steps", 0, "step_number"], "invalid_type"],
    ["a string step_number", calc(1, { step_number: "1" }), ["steps", 0, "step_number"], "invalid_type"],
    ["step_number over 1000", calc(1001), ["steps", 0, "step_number"], "too_big"],
    ["an empty tool name", calc(1, { tool: "" }), ["steps", 0, "tool"], "too_small"],
    ["a missing input", { step_number: 1, tool: "Calculator.evaluate" }, ["steps", 0, "input"], "invalid_type"],
    ["an array input", calc(1, { input: ["1 + 1"] }), ["steps", 0, "input"], "invalid_type"],
    ["a string depends_on", calc(1, { depends_on: "2" }), ["steps", 0, "depends_on"], "invalid_type"],
    ["a depends_on entry of 0", calc(1, { depends_on: [0] }), ["steps", 0, "depends_on", 0], "too_small"],
    ["a reasoning that is not text", calc(1, { reasoning: 5 }), ["steps", 0, "reasoning"], "invalid_type"],
  ])("rejects %s with a path to the field", (_label, step, path, code) => {
    const issues = issuesOf({ steps: [step] });
    expect(issues).toContainEqual(expect.objectContaining({ code, path }));
  });
});

describe("validatePlan: plan errors", () => {
  it("reports a duplicate step number on the second occurrence", () => {
    const issues = issuesOf({ steps: [calc(1), calc(2), calc(1)] });
    expect(issues).toEqual([expect.objectContaining({ code: "duplicate_step", step_number: 1, path: ["steps", 2, "step_number"] })]);
  });

  it("reports an unknown tool and suggests the closest name", () => {
    const issues = issuesOf({ steps: [calc(1, { tool: "calculator.evaluate" })] });
    expect(issues).toEqual([expect.objectContaining({ code: "unknown_tool", step_number: 1, path: ["steps", 0, "tool"] })]);
    expect(issues[0]!.message).toContain('Did you mean "Calculator.evaluate"');
  });

  it("lists the known tools when nothing is close", () => {
    const issues = issuesOf({ steps: [calc(1), calc(2, { tool: "Weather.today" })] });
    expect(issues).toEqual([expect.objectContaining({ code: "unknown_tool", step_number: 2, path: ["steps", 1, "tool"] })]);
    for (const name of tools.keys()) expect(issues[0]!.message).toContain(name);
  });

  it("reports a step that depends on itself", () => {
    const issues = issuesOf({ steps: [calc(1), calc(2, { depends_on: [1, 2] })] });
    expect(issues).toContainEqual(expect.objectContaining({ code: "self_dependency", step_number: 2, path: ["steps", 1, "depends_on"] }));
  });

  it("reports a dependency on a step that does not exist", () => {
    const issues = issuesOf({ steps: [calc(1), calc(2, { depends_on: [1, 5] })] });
    expect(issues).toEqual([expect.objectContaining({ code: "unknown_dependency", step_number: 2, path: ["steps", 1, "depends_on"] })]);
    expect(issues[0]!.message).toContain("5");
  });

  it("reports a reference to a step that does not exist, pointing into the input", () => {
    const issues = issuesOf({ steps: [calc(1), addTodo(2, { input: { title: "{{steps.9.output}}" }, depends_on: [1] })] });
    expect(issues).toEqual([expect.objectContaining({ code: "unknown_reference", step_number: 2, path: ["steps", 1, "input", "title"] })]);
    expect(issues[0]!.message).toContain("9");
  });

  it("reports a reference to a step the step does not depend on", () => {
    const issues = issuesOf({ steps: [calc(1), calc(2, { input: { expression: "{{steps.1.output}} * 2" } })] });
    expect(issues).toEqual([expect.objectContaining({ code: "reference_without_dependency", step_number: 2, path: ["steps", 1, "input", "expression"] })]);
    expect(issues[0]!.message).toContain("depends_on");
  });

  it("does not count a dependent step as something one may refer to", () => {
    // Step 1 is depended on *by* step 2; step 1 cannot use step 2's output.
    const issues = issuesOf({ steps: [calc(1, { input: { expression: "{{steps.2.output}}" } }), calc(2, { depends_on: [1] })] });
    expect(issues).toEqual([expect.objectContaining({ code: "reference_without_dependency", step_number: 1, path: ["steps", 0, "input", "expression"] })]);
  });

  it("reports a whole reference without a dependency as that, not as a wrong type", () => {
    const issues = issuesOf({ steps: [addTodo(1), { step_number: 2, tool: "TodoStore.complete", input: { id: "{{steps.1.output.todo.id}}" } }] });
    expect(codes(issues)).toEqual(["reference_without_dependency"]);
    expect(issues[0]).toMatchObject({ step_number: 2, path: ["steps", 1, "input", "id"] });
  });

  it("reports input the tool rejects, with a path into the input", () => {
    const issues = issuesOf({ steps: [calc(1, { input: { expression: 42 } })] });
    expect(issues).toEqual([expect.objectContaining({ code: "invalid_input", step_number: 1, path: ["steps", 0, "input", "expression"] })]);
    expect(issues[0]!.message).toMatch(/^Calculator\.evaluate: /);
  });

  it.each<[string, string, Record<string, unknown>]>([
    ["a missing required field", "Calculator.evaluate", {}],
    ["an unknown input field", "TodoStore.add", { title: "x", priority: 1 }],
    ["an empty title", "TodoStore.add", { title: "  " }],
    ["an id that is not a positive integer", "TodoStore.get", { id: -1 }],
    ["both id and title", "TodoStore.complete", { id: 1, title: "x" }],
    ["neither id nor title", "TodoStore.delete", {}],
    ["a status outside the enum", "TodoStore.list", { status: "later" }],
    ["a URL that is not http(s)", "Http.get", { url: "ftp://example.com/" }],
    ["a negative wait", "Wait.sleep", { seconds: -1 }],
    ["a wait over 7 days", "Wait.sleep", { seconds: 7 * 24 * 3600 + 1 }],
    ["an over-long expression", "Calculator.evaluate", { expression: "1".repeat(501) }],
  ])("reports %s as invalid_input", (_label, tool, input) => {
    const issues = issuesOf({ steps: [{ step_number: 4, tool, input }] });
    expect(issues.length).toBeGreaterThan(0);
    for (const issue of issues) {
      expect(issue.code).toBe("invalid_input");
      expect(issue.step_number).toBe(4);
      expect(issue.path.slice(0, 3)).toEqual(["steps", 0, "input"]);
      expect(issue.message.startsWith(`${tool}: `)).toBe(true);
    }
  });

  it("does not excuse a reference embedded in a longer string where a number is expected", () => {
    const issues = issuesOf({ steps: [addTodo(1), { step_number: 2, tool: "TodoStore.get", input: { id: "#{{steps.1.output.todo.id}}" }, depends_on: [1] }] });
    expect(issues).toEqual([expect.objectContaining({ code: "invalid_input", step_number: 2, path: ["steps", 1, "input", "id"] })]);
  });

  it("does not excuse an unknown field because its value is a reference", () => {
    const issues = issuesOf({ steps: [calc(1), addTodo(2, { input: { title: "x", note: "{{steps.1.output}}" }, depends_on: [1] })] });
    expect(codes(issues)).toEqual(["invalid_input"]);
    expect(issues[0]!.step_number).toBe(2);
  });

  it("reports a dependency cycle with the steps in it", () => {
    const issues = issuesOf({ steps: [calc(1, { depends_on: [3] }), calc(2, { depends_on: [1] }), calc(3, { depends_on: [2] }), calc(4)] });
    expect(issues).toEqual([expect.objectContaining({ code: "dependency_cycle", path: ["steps"] })]);
    expect([1, 2, 3]).toContain(issues[0]!.step_number);
    expect(issues[0]!.message).toMatch(/\d+ → \d+ → \d+ → \d+/);
    for (const n of ["1", "2", "3"]) expect(issues[0]!.message).toContain(n);
    expect(issues[0]!.message).not.toContain("4");
  });

  it("reports a two-step cycle", () => {
    const issues = issuesOf({ steps: [calc(1, { depends_on: [2] }), calc(2, { depends_on: [1] })] });
    expect(codes(issues)).toEqual(["dependency_cycle"]);
  });

  it("does not mistake a diamond for a cycle", () => {
    expectValid({ steps: [calc(1), calc(2, { depends_on: [1] }), calc(3, { depends_on: [1] }), calc(4, { depends_on: [2, 3] })] });
  });

  it("reports every problem at once, each with its step number and a path", () => {
    const issues = issuesOf({
      steps: [
        calc(1, { tool: "Nope.tool" }),
        calc(2, { depends_on: [2] }),
        calc(3, { depends_on: [8] }),
        addTodo(4, { input: { title: "{{steps.9.output}}" } }),
        addTodo(5, { input: { title: "{{steps.1.output}}" } }),
        calc(6, { input: { expression: false } }),
        calc(5),
      ],
    });
    expect(codes(issues).sort()).toEqual(
      [
        "duplicate_step",
        "unknown_tool",
        "self_dependency",
        "unknown_dependency",
        "unknown_reference",
        "reference_without_dependency",
        "invalid_input",
        "dependency_cycle",
      ].sort(),
    );
    for (const issue of issues) {
      expect(typeof issue.step_number, JSON.stringify(issue)).toBe("number");
      expect(issue.path[0]).toBe("steps");
      expect(issue.message.length).toBeGreaterThan(0);
    }
    const byCode = new Map(issues.map((i) => [i.code, i]));
    expect(byCode.get("unknown_tool")).toMatchObject({ step_number: 1, path: ["steps", 0, "tool"] });
    expect(byCode.get("self_dependency")).toMatchObject({ step_number: 2, path: ["steps", 1, "depends_on"] });
    expect(byCode.get("unknown_dependency")).toMatchObject({ step_number: 3, path: ["steps", 2, "depends_on"] });
    expect(byCode.get("unknown_reference")).toMatchObject({ step_number: 4, path: ["steps", 3, "input", "title"] });
    expect(byCode.get("reference_without_dependency")).toMatchObject({ step_number: 5, path: ["steps", 4, "input", "title"] });
    expect(byCode.get("invalid_input")).toMatchObject({ step_number: 6, path: ["steps", 5, "input", "expression"] });
    expect(byCode.get("duplicate_step")).toMatchObject({ step_number: 5, path: ["steps", 6, "step_number"] });
  });
});

describe("validatePlan: a whole reference to an object where text or a number is needed", () => {
  const sleep = (step_number: number, extra: RawStep = {}): RawStep => ({ step_number, tool: "Wait.sleep", input: { seconds: 1 }, ...extra });
  const list = (step_number: number, extra: RawStep = {}): RawStep => ({ step_number, tool: "TodoStore.list", input: { status: "all" }, ...extra });

  it("is refused before the run, saying which output is an object and what the tool needs", () => {
    const issues = issuesOf({ steps: [calc(1), sleep(2), addTodo(3, { input: { title: "{{steps.2.output}}" }, depends_on: [1, 2] })] });
    expect(issues).toEqual([expect.objectContaining({ code: "reference_type_mismatch", step_number: 3, path: ["steps", 2, "input", "title"] })]);
    expect(issues[0]!.message).toContain("step 2's output is an object; TodoStore.add needs a string title.");
    expect(issues[0]!.message).toContain("{{steps.2.output.slept_seconds}}");
  });

  it.each<[string, RawStep, RawStep, string]>([
    ["a new todo as a title", addTodo(1), addTodo(2, { input: { title: "{{steps.1.output}}" }, depends_on: [1] }), "{{steps.1.output.todo.title}}"],
    [
      "a list as an id",
      list(1),
      { step_number: 2, tool: "TodoStore.complete", input: { id: "{{steps.1.output}}" }, depends_on: [1] },
      "{{steps.1.output.todos.0.id}}",
    ],
    [
      "a fetched answer as a URL",
      { step_number: 1, tool: "Http.get", input: { url: "https://example.com/" } },
      { step_number: 2, tool: "Http.get", input: { url: "{{steps.1.output}}" }, depends_on: [1] },
      "{{steps.1.output.content_type}}",
    ],
    [
      "a deleted todo as an expression",
      { step_number: 1, tool: "TodoStore.delete", input: { id: 1 } },
      calc(2, { input: { expression: "{{steps.1.output.deleted}}" }, depends_on: [1] }),
      "{{steps.1.output.deleted.title}}",
    ],
  ])("reports %s, with a field to point at instead", (_label, producer, consumer, better) => {
    const issues = issuesOf({ steps: [producer, consumer] });
    expect(codes(issues)).toEqual(["reference_type_mismatch"]);
    expect(issues[0]!.message).toMatch(/step 1's output(\.\w+)? is an object; \S+ needs a (string|number) \w+\./);
    expect(issues[0]!.message).toContain(better);
  });

  it("calls a list a list", () => {
    const issues = issuesOf({ steps: [list(1), addTodo(2, { input: { title: "{{steps.1.output.todos}}" }, depends_on: [1] })] });
    expect(issues[0]!.message).toContain("step 1's output.todos is a list; TodoStore.add needs a string title.");
  });

  it.each<[string, RawStep, Record<string, unknown>, string]>([
    ["a number", calc(1), { title: "{{steps.1.output}}" }, "TodoStore.add"],
    ["a field of an object", addTodo(1), { id: "{{steps.1.output.todo.id}}" }, "TodoStore.complete"],
    ["a position in a list, counted from the end", list(1), { id: "{{steps.1.output.todos.-1.id}}" }, "TodoStore.delete"],
    ["a list's count", list(1), { title: "{{steps.1.output.count}}" }, "TodoStore.add"],
    [
      "a fetched body, whose type is known only when it runs",
      { step_number: 1, tool: "Http.get", input: { url: "https://example.com/" } },
      { title: "{{steps.1.output.body}}" },
      "TodoStore.add",
    ],
    ["an object inside a longer string (interpolated as text)", addTodo(1), { title: "made {{steps.1.output}}" }, "TodoStore.add"],
  ])("accepts %s", (_label, producer, input, tool) => {
    expectValid({ steps: [producer, { step_number: 2, tool, input, depends_on: [1] }] });
  });
});

describe("validatePlan: compensations", () => {
  const add = (step_number: number, extra: Record<string, unknown> = {}) => ({ step_number, tool: "TodoStore.add", input: { title: "x" }, ...extra });

  it("keeps a compensation as written, and null for a step that opts out of its tool's default", () => {
    const steps = expectValid({
      steps: [
        add(1, { compensate: { tool: "TodoStore.delete", input: { id: "{{steps.1.output.todo.id}}" } } }),
        add(2, { compensate: null }),
        add(3, {
          depends_on: [1],
          compensate: { tool: "Http.get", input: { url: "https://example.com/undo/{{steps.1.output.todo.id}}/{{steps.3.output.todo.id}}" } },
        }),
        add(4),
      ],
    });
    expect(steps.map((s) => s.compensate)).toEqual([
      { tool: "TodoStore.delete", input: { id: "{{steps.1.output.todo.id}}" } },
      null,
      { tool: "Http.get", input: { url: "https://example.com/undo/{{steps.1.output.todo.id}}/{{steps.3.output.todo.id}}" } },
      undefined,
    ]);
  });

  it("refuses an unknown tool, a tool that waits, a bad input, and an output the step may not have", () => {
    const issues = issuesOf({
      steps: [
        add(1, { compensate: { tool: "TodoStore.remove", input: {} } }),
        add(2, { compensate: { tool: "Human.approve", input: { message: "undo?" } } }),
        add(3, { compensate: { tool: "TodoStore.delete", input: { id: "seven" } } }),
        add(4, { compensate: { tool: "TodoStore.delete", input: { id: "{{steps.1.output.todo.id}}" } } }),
      ],
    });
    expect(issues.map((i) => [i.code, i.step_number, i.path])).toEqual([
      ["unknown_tool", 1, ["steps", 0, "compensate", "tool"]],
      ["invalid_compensation", 2, ["steps", 1, "compensate", "tool"]],
      ["invalid_input", 3, ["steps", 2, "compensate", "input", "id"]],
      ["compensation_reference", 4, ["steps", 3, "compensate", "input", "id"]],
    ]);
    expect(issues[3]!.message).toContain("only its own step's output and the outputs that step depends on");
  });

  it("refuses a compensation with fields it does not know", () => {
    expect(codes(issuesOf({ steps: [add(1, { compensate: { tool: "TodoStore.delete", input: { id: 1 }, when: "always" } })] }))).toEqual(["unrecognized_keys"]);
  });
});
