import { describe, expect, it } from "vitest";
import type { PlanInput } from "../src/execution/plan-schema";
import { findReferences } from "../src/planner/references";
import { planFromPrompt } from "../src/planner/rule-planner";
import { validatePlan } from "../src/planner/validate-plan";

type Step = PlanInput["steps"][number];

/** Plans `prompt`, requires success and a plan that passes validatePlan, and returns the steps. */
function plan(prompt: string): Step[] {
  const result = planFromPrompt(prompt);
  if (!result.ok) expect.fail(`expected ${JSON.stringify(prompt)} to plan, but the planner did not understand ${JSON.stringify(result.unparsed)}`);
  const validation = validatePlan({ steps: result.steps });
  if (!validation.ok) expect.fail(`the plan for ${JSON.stringify(prompt)} fails validatePlan: ${JSON.stringify(validation.issues)}`);
  // Steps are numbered 1..n in order, and every step explains itself.
  expect(result.steps.map((s) => s.step_number)).toEqual(result.steps.map((_, i) => i + 1));
  for (const s of result.steps) expect(s.reasoning?.length ?? 0).toBeGreaterThan(0);
  return result.steps;
}

/** The parts of each step a spec talks about. */
const shape = (steps: Step[]) => steps.map(({ step_number, tool, input, depends_on }) => ({ step_number, tool, input, depends_on }));

function unparsed(prompt: string): string[] {
  const result = planFromPrompt(prompt);
  if (result.ok) expect.fail(`expected ${JSON.stringify(prompt)} not to plan, but got ${JSON.stringify(result.steps)}`);
  expect(result.unparsed.length).toBeGreaterThan(0);
  return result.unparsed;
}

const calc = (step_number: number, expression: string, depends_on: number[] = []) => ({
  step_number,
  tool: "Calculator.evaluate",
  input: { expression },
  depends_on,
});
const addTodo = (step_number: number, title: string, depends_on: number[] = []) => ({ step_number, tool: "TodoStore.add", input: { title }, depends_on });
const listTodos = (step_number: number, depends_on: number[] = [], status = "all") => ({ step_number, tool: "TodoStore.list", input: { status }, depends_on });

describe("planFromPrompt: the examples", () => {
  it('"Add a todo to buy milk, then show me all my tasks"', () => {
    expect(shape(plan("Add a todo to buy milk, then show me all my tasks"))).toEqual([addTodo(1, "buy milk"), listTodos(2, [1])]);
  });

  it('"calculate 2 + 3 and calculate 4 * 5, then list my todos"', () => {
    expect(shape(plan("calculate 2 + 3 and calculate 4 * 5, then list my todos"))).toEqual([calc(1, "2 + 3"), calc(2, "4 * 5"), listTodos(3, [1, 2])]);
  });

  it('"add a todo to buy bread and milk" is one todo', () => {
    expect(shape(plan("add a todo to buy bread and milk"))).toEqual([addTodo(1, "buy bread and milk")]);
  });

  it('"what is the weather" is not understood', () => {
    expect(unparsed("what is the weather")).toEqual(["what is the weather"]);
  });
});

describe("planFromPrompt: arithmetic", () => {
  it.each([
    ["calculate (41*7)+13", "(41*7)+13"],
    ["compute 2 ** 10", "2 ** 10"],
    ["evaluate 1 + 1", "1 + 1"],
    ["what is 6 * 7?", "6 * 7"],
    ["what's 7 % 3", "7 % 3"],
    ["calculate 0.1 + 0.2", "0.1 + 0.2"],
    ["Calculate 2 + 3.", "2 + 3"],
    ["please calculate 2 + 3", "2 + 3"],
  ])("%s → Calculator.evaluate %s", (prompt, expression) => {
    expect(shape(plan(prompt))).toEqual([calc(1, expression)]);
  });

  it.each([
    ["5 plus 3", "5 + 3"],
    ["what is 5 plus 3", "5 + 3"],
    ["10 minus 4", "10 - 4"],
    ["6 times 7", "6 * 7"],
    ["calculate 10 divided by 2", "10 / 2"],
    ["2 to the power of 8", "2 ** 8"],
  ])("understands operator words: %s → %s", (prompt, expression) => {
    expect(shape(plan(prompt))).toEqual([calc(1, expression)]);
  });

  it.each([
    ["multiply 6 by 7", "6 * 7"],
    ["divide 10 by 4", "10 / 4"],
    ["subtract 3 from 10", "10 - 3"],
    ["add 2 to 5", "5 + 2"],
  ])("understands verb phrasing: %s → %s", (prompt, expression) => {
    expect(shape(plan(prompt))).toEqual([calc(1, expression)]);
  });

  it("does not take words for arithmetic", () => {
    expect(unparsed("calculate 2 + y")).toEqual(["calculate 2 + y"]);
    expect(unparsed("calculate the meaning of life")).toEqual(["calculate the meaning of life"]);
  });
});

describe("planFromPrompt: todos", () => {
  it.each([
    ["add a todo to buy milk", "buy milk"],
    ["add a todo buy eggs", "buy eggs"],
    ["add todo buy milk", "buy milk"],
    ["add a todo: call mom", "call mom"],
    ["create a todo to water plants", "water plants"],
    ["add a task to water plants", "water plants"],
    ['add a todo called "pay rent"', "pay rent"],
  ])("%s → TodoStore.add %j", (prompt, title) => {
    expect(shape(plan(prompt))).toEqual([addTodo(1, title)]);
  });

  it("keeps commas and 'and' inside a single todo's title", () => {
    expect(shape(plan("add a todo to buy bread, milk and eggs"))).toEqual([addTodo(1, "buy bread, milk and eggs")]);
  });

  it('"add todos: a, b and c" adds one step each, each after the one before, so the list keeps the typed order', () => {
    expect(shape(plan("add todos: a, b and c"))).toEqual([addTodo(1, "a"), addTodo(2, "b", [1]), addTodo(3, "c", [2])]);
    expect(shape(plan("add todos: wash car, buy milk and call mom"))).toEqual([
      addTodo(1, "wash car"),
      addTodo(2, "buy milk", [1]),
      addTodo(3, "call mom", [2]),
    ]);
  });

  it("todos asked for in separate clauses joined by 'and' run side by side", () => {
    expect(shape(plan("add a todo to buy milk and add a todo to call mom"))).toEqual([addTodo(1, "buy milk"), addTodo(2, "call mom")]);
  });

  it.each([
    "list todos",
    "list my todos",
    "list my tasks",
    "list all tasks",
    "list all my todos",
    "show my tasks",
    "show me todos",
    "show me my todos",
    "show all todos",
    "show me all my todos",
    "show me all my tasks",
  ])("%s → TodoStore.list all", (prompt) => {
    expect(shape(plan(prompt))).toEqual([listTodos(1)]);
  });

  it("lists only open or done todos when asked", () => {
    expect(shape(plan("list my open todos"))).toEqual([listTodos(1, [], "open")]);
    expect(shape(plan("show me my done tasks"))).toEqual([listTodos(1, [], "done")]);
  });

  it.each<[string, string, Record<string, unknown>]>([
    ["complete todo 3", "TodoStore.complete", { id: 3 }],
    ["mark done todo 4", "TodoStore.complete", { id: 4 }],
    ["mark todo 3 as done", "TodoStore.complete", { id: 3 }],
    ['complete todo "buy milk"', "TodoStore.complete", { title: "buy milk" }],
    ['mark done todo "buy milk"', "TodoStore.complete", { title: "buy milk" }],
    ["delete todo 5", "TodoStore.delete", { id: 5 }],
    ["delete todo #5", "TodoStore.delete", { id: 5 }],
    ["remove todo 5", "TodoStore.delete", { id: 5 }],
    ['remove todo "buy milk"', "TodoStore.delete", { title: "buy milk" }],
    ["delete task 'walk the dog'", "TodoStore.delete", { title: "walk the dog" }],
  ])("%s → %s %j", (prompt, tool, input) => {
    expect(shape(plan(prompt))).toEqual([{ step_number: 1, tool, input, depends_on: [] }]);
  });

  it("reads one todo by id", () => {
    expect(shape(plan("get todo 3"))).toEqual([{ step_number: 1, tool: "TodoStore.get", input: { id: 3 }, depends_on: [] }]);
  });
});

describe("planFromPrompt: fetching and waiting", () => {
  it.each([
    ["fetch https://example.com/x", "https://example.com/x"],
    ["get https://example.com/data.json", "https://example.com/data.json"],
    ["fetch http://localhost:8787/a?b=1", "http://localhost:8787/a?b=1"],
  ])("%s → Http.get", (prompt, url) => {
    expect(shape(plan(prompt))).toEqual([{ step_number: 1, tool: "Http.get", input: { url }, depends_on: [] }]);
  });

  it.each([
    ["wait 5 seconds then list my todos", 5],
    ["wait 1 minute then list my todos", 60],
    ["wait 2 minutes, then list my todos", 120],
    ["wait 30 seconds, then list my todos", 30],
  ])("%s → Wait.sleep %d s before the list", (prompt, seconds) => {
    expect(shape(plan(prompt))).toEqual([{ step_number: 1, tool: "Wait.sleep", input: { seconds }, depends_on: [] }, listTodos(2, [1])]);
  });

  it("waits before any kind of step", () => {
    expect(shape(plan("sleep for 10 seconds, then calculate 1+1"))).toEqual([
      { step_number: 1, tool: "Wait.sleep", input: { seconds: 10 }, depends_on: [] },
      calc(2, "1+1", [1]),
    ]);
  });
});

describe("planFromPrompt: sequencing", () => {
  it('"then" makes a clause depend on the clause before', () => {
    expect(shape(plan("calculate 1+1 then calculate 2+2 then calculate 3+3"))).toEqual([calc(1, "1+1"), calc(2, "2+2", [1]), calc(3, "3+3", [2])]);
  });

  it.each([
    "calculate 2 + 3 then list my todos",
    "calculate 2 + 3, then list my todos",
    "calculate 2 + 3 and then list my todos",
    "calculate 2 + 3, and then list my todos",
    "calculate 2 + 3\nthen   list my todos",
    "Calculate 2 + 3 THEN list my todos",
  ])("accepts the separator in %j", (prompt) => {
    expect(shape(plan(prompt))).toEqual([calc(1, "2 + 3"), listTodos(2, [1])]);
  });

  it('clauses joined by "and" or "," are independent', () => {
    expect(shape(plan("add a todo to buy milk and list my todos"))).toEqual([addTodo(1, "buy milk"), listTodos(2)]);
    expect(shape(plan("calculate 2 + 3, calculate 4 + 5 and list my todos"))).toEqual([calc(1, "2 + 3"), calc(2, "4 + 5"), listTodos(3)]);
    expect(shape(plan("fetch https://example.com/a and fetch https://example.com/b"))).toEqual([
      { step_number: 1, tool: "Http.get", input: { url: "https://example.com/a" }, depends_on: [] },
      { step_number: 2, tool: "Http.get", input: { url: "https://example.com/b" }, depends_on: [] },
    ]);
  });

  it("a clause after 'then' depends on the whole parallel group before it, and only on that group", () => {
    expect(shape(plan("calculate 1+1 then calculate 2+2 and calculate 3+3 then list my todos"))).toEqual([
      calc(1, "1+1"),
      calc(2, "2+2", [1]),
      calc(3, "3+3", [1]),
      listTodos(4, [2, 3]),
    ]);
  });

  it("a clause after 'then' waits for every todo of a list (through the last, which follows the others)", () => {
    expect(shape(plan("add todos: a, b and c, then list my todos"))).toEqual([addTodo(1, "a"), addTodo(2, "b", [1]), addTodo(3, "c", [2]), listTodos(4, [3])]);
  });

  it("keeps the case of what the user typed", () => {
    expect(shape(plan("Add a todo to Call Mom, then List my todos"))).toEqual([addTodo(1, "Call Mom"), listTodos(2, [1])]);
  });
});

describe("planFromPrompt: using the result", () => {
  it('"add the result as a todo" refers to the previous step and depends on it', () => {
    expect(shape(plan("calculate 2 + 3, then add the result as a todo"))).toEqual([calc(1, "2 + 3"), addTodo(2, "{{steps.1.output}}", [1])]);
  });

  it('"... with the result" refers to the previous step and depends on it', () => {
    expect(shape(plan("calculate 2 + 3 then add a todo with the result"))).toEqual([calc(1, "2 + 3"), addTodo(2, "{{steps.1.output}}", [1])]);
  });

  it('a clause joined by "and" that uses the result is not independent', () => {
    expect(shape(plan("calculate 2 + 3 and add the result as a todo"))).toEqual([calc(1, "2 + 3"), addTodo(2, "{{steps.1.output}}", [1])]);
  });

  it("the result can feed arithmetic", () => {
    expect(shape(plan("calculate 2 + 3 then multiply the result by 4"))).toEqual([calc(1, "2 + 3"), calc(2, "{{steps.1.output}} * 4", [1])]);
    expect(shape(plan("5 plus 3 then the result times 2"))).toEqual([calc(1, "5 + 3"), calc(2, "{{steps.1.output}} * 2", [1])]);
    expect(shape(plan("calculate 2 + 3 then calculate the result * 2"))).toEqual([calc(1, "2 + 3"), calc(2, "{{steps.1.output}} * 2", [1])]);
  });

  it("completing what was just added refers to its todo id", () => {
    const steps = plan("add a todo to buy milk, then complete it");
    expect(shape(steps)).toEqual([
      addTodo(1, "buy milk"),
      { step_number: 2, tool: "TodoStore.complete", input: { id: "{{steps.1.output.todo.id}}" }, depends_on: [1] },
    ]);
    expect(findReferences(steps[1]!.input)).toEqual([{ step_number: 1, path: ["todo", "id"], at: ["id"] }]);
  });

  it("a result reference after a later 'then' points at the step just before and keeps the group dependency", () => {
    expect(shape(plan("calculate 2 + 3 then add a todo with the result then list my todos"))).toEqual([
      calc(1, "2 + 3"),
      addTodo(2, "{{steps.1.output}}", [1]),
      listTodos(3, [2]),
    ]);
  });

  it("a fetched page can become a todo: its body, not the whole { status, content_type, body } object", () => {
    expect(shape(plan("fetch https://example.com/x then add the result as a todo"))).toEqual([
      { step_number: 1, tool: "Http.get", input: { url: "https://example.com/x" }, depends_on: [] },
      addTodo(2, "{{steps.1.output.body}}", [1]),
    ]);
  });

  it("every reference a plan makes is to a step it depends on", () => {
    for (const prompt of [
      "calculate 2 + 3, then add the result as a todo",
      "calculate 2 + 3 and calculate 4 + 5 then add the result as a todo",
      "calculate 2 + 3, then calculate 4 + 5 and add the result as a todo",
      "add a todo to buy milk, then complete it",
    ]) {
      for (const step of plan(prompt)) {
        for (const ref of findReferences(step.input)) expect(step.depends_on, prompt).toContain(ref.step_number);
      }
    }
  });

  it("'the result' with nothing before it is not understood", () => {
    expect(unparsed("add the result as a todo")).toEqual(["add the result as a todo"]);
    expect(unparsed("multiply the result by 2")).toEqual(["multiply the result by 2"]);
    expect(unparsed("calculate the result plus 1")).toEqual(["calculate the result plus 1"]);
  });
});

describe("planFromPrompt: what it does not understand", () => {
  it.each(["what is the weather", "x", "hello there", "and", "then", "book me a flight to Paris"])("%j is not ok", (prompt) => {
    unparsed(prompt);
  });

  it("an empty or blank prompt is not ok", () => {
    expect(planFromPrompt("").ok).toBe(false);
    expect(planFromPrompt("   ").ok).toBe(false);
  });

  it("reports the clause it did not understand, not the ones it did", () => {
    expect(unparsed("what is the weather, then list my todos")).toEqual(["what is the weather"]);
    const parts = unparsed("list my todos, then book me a flight, then calculate 1+1");
    expect(parts).toHaveLength(1);
    expect(parts[0]).toContain("book me a flight");
    expect(parts[0]).not.toContain("calculate");
  });

  it("fails the whole prompt when any part is not understood", () => {
    expect(planFromPrompt("calculate 2+3 then fly to the moon").ok).toBe(false);
    expect(planFromPrompt("list my todos and what is the weather").ok).toBe(false);
  });

  it("does not swallow a later 'then' clause into a todo title", () => {
    // "then" starts a new clause; what follows it is not part of the title before it, whether or
    // not the planner understands it (if it does not, the prompt is not ok).
    for (const prompt of ["add a todo to buy milk then fly to the moon", "add a todo to buy milk then delete it", "add a todo to buy milk, then remove it"]) {
      const result = planFromPrompt(prompt);
      const titles = result.ok ? result.steps.filter((s) => s.tool === "TodoStore.add").map((s) => s.input.title) : [];
      expect(titles, prompt).not.toContainEqual(expect.stringMatching(/\bthen\b/));
    }
  });
});

describe("pronouns after then", () => {
  it('"then remove it" deletes the todo the previous step added', () => {
    const r = planFromPrompt("add a todo to buy milk, then remove it");
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.steps).toHaveLength(2);
    expect(r.steps[1]).toMatchObject({ tool: "TodoStore.delete", input: { id: "{{steps.1.output.todo.id}}" }, depends_on: [1] });
    expect(validatePlan({ steps: r.steps }).ok).toBe(true);
  });
});

describe("planFromPrompt: child runs", () => {
  it('"as a sub-task, <task>" starts one child for the task and waits for it', () => {
    expect(shape(plan("As a sub-task, calculate 2 + 3 then double it"))).toEqual([
      { step_number: 1, tool: "Run.start", input: { prompt: "calculate 2 + 3 then double it" }, depends_on: [] },
    ]);
  });

  it('"in parallel, for each of: a, b, c, <task>" starts one child per item side by side, then collects their results', () => {
    expect(shape(plan("in parallel, for each of: milk, eggs, bread, add a todo to buy it"))).toEqual([
      { step_number: 1, tool: "Run.start", input: { prompt: "add a todo to buy milk" }, depends_on: [] },
      { step_number: 2, tool: "Run.start", input: { prompt: "add a todo to buy eggs" }, depends_on: [] },
      { step_number: 3, tool: "Run.start", input: { prompt: "add a todo to buy bread" }, depends_on: [] },
      {
        step_number: 4,
        tool: "Run.collect",
        input: { values: ["{{steps.1.output.result}}", "{{steps.2.output.result}}", "{{steps.3.output.result}}"] },
        depends_on: [1, 2, 3],
      },
    ]);
  });

  it("puts each item where {item} is, or at the end of the task, and keeps quoted items whole", () => {
    expect(shape(plan("In parallel, for each of: 2, 3 and 4, calculate {item} * 10")).map((s) => s.input)).toEqual([
      { prompt: "calculate 2 * 10" },
      { prompt: "calculate 3 * 10" },
      { prompt: "calculate 4 * 10" },
      { values: ["{{steps.1.output.result}}", "{{steps.2.output.result}}", "{{steps.3.output.result}}"] },
    ]);
    expect(shape(plan('in parallel, for each of: "salt, pepper", oil, add a todo to buy')).map((s) => s.input.prompt)).toEqual([
      "add a todo to buy salt, pepper",
      "add a todo to buy oil",
      undefined,
    ]);
  });

  it("refuses a sub-task it cannot plan, naming it, rather than failing the run later", () => {
    const result = planFromPrompt("as a sub-task, what is the weather");
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.refusals[0]!.message).toContain("the sub-task cannot be planned");
    const each = planFromPrompt("in parallel, for each of: a, b, sing {item}");
    expect(each.ok).toBe(false);
    if (!each.ok) expect(each.refusals[0]!.message).toContain('the task for "a" ("sing a") cannot be planned');
  });

  it("refuses a fan-out with no items", () => {
    expect(unparsed("in parallel, for each of: calculate 1 + 1")).toEqual(["in parallel, for each of: calculate 1 + 1"]);
  });
});
