import { describe, expect, it } from "vitest";
import type { PlanInput } from "../src/execution/plan-schema";
import { planFromPrompt, refusalMessage } from "../src/planner/rule-planner";
import { validatePlan } from "../src/planner/validate-plan";
import { R, add, approve, calc, complete, remove, sleep, type Expected } from "./plan-rows";

/**
 * What people actually type (issue 15), by kind: each row is a prompt and the whole plan it must
 * become, every step's tool, input and dependencies. The examples of the issue are here, and more
 * phrasings of each kind besides, because the planner must get the kind right, not the example.
 */

type Step = PlanInput["steps"][number];
/** Todos added from one list: each after the one before it, so they keep the order they were typed in. */
const inOrder = (...titles: unknown[]): Expected[] => titles.map((t, i) => add(t, i ? [i] : []));
const list = (status: "all" | "open" | "done" = "all", depends_on: number[] = []): Expected => ({ tool: "TodoStore.list", input: { status }, depends_on });
const read = (input: Record<string, unknown>, depends_on: number[] = []): Expected => ({ tool: "TodoStore.get", input, depends_on });
const get = (url: string, depends_on: number[] = []): Expected => ({ tool: "Http.get", input: { url }, depends_on });
/** A Human.approve step whose message names what it guards. */
/** The id of a todo at a position of step `step`'s list (negative: from the end). */
const at = (step: number, position: number) => ({ id: R(step, `.todos.${position}.id`) });
/** The id of the todo step `step` added, read or completed. */
const itsId = (step: number) => ({ id: R(step, ".todo.id") });

/** Plans `prompt`: it must plan, pass validatePlan, number its steps 1..n and explain each briefly. */
function planned(prompt: string): (Expected & { step_number: number })[] {
  const result = planFromPrompt(prompt);
  if (!result.ok) expect.fail(`expected ${JSON.stringify(prompt)} to plan, but it was refused: ${refusalMessage(result.refusals)}`);
  const validation = validatePlan({ steps: result.steps });
  if (!validation.ok) expect.fail(`the plan for ${JSON.stringify(prompt)} fails validatePlan: ${JSON.stringify(validation.issues)}`);
  for (const s of result.steps) expect((s.reasoning ?? "").length, "reasoning").toBeGreaterThan(0);
  for (const s of result.steps) expect((s.reasoning ?? "").length, "reasoning stays short").toBeLessThanOrEqual(200);
  return result.steps.map(({ step_number, tool, input, depends_on }: Step) => ({ step_number, tool, input, depends_on }));
}

const numbered = (steps: Expected[]) => steps.map((s, i) => ({ step_number: i + 1, ...s }));

const longTitle = (n: number, length: number) => `task ${n} ${"x".repeat(length - `task ${n} `.length)}`;
const tenLongTitles = Array.from({ length: 10 }, (_, i) => longTitle(i, 187));
const fiftyTitles = Array.from({ length: 50 }, (_, i) => `item ${i + 1}`);

const PHRASINGS: Record<string, [string, Expected[]][]> = {
  "asking for approval puts a Human.approve step before what follows": [
    ["ask me before deleting todo 3", [approve("delete todo 3"), remove({ id: 3 }, [1])]],
    ["ask me first before you delete todo 3", [approve("delete todo 3"), remove({ id: 3 }, [1])]],
    ["with my approval, delete todo 3", [approve("delete todo 3"), remove({ id: 3 }, [1])]],
    [
      "with my permission fetch https://example.com/x and list my todos",
      [approve("fetch https://example.com/x and list my todos"), get("https://example.com/x", [1]), list("all", [1])],
    ],
    ["wait for my approval then add a todo to buy milk", [approve("add a todo to buy milk"), add("buy milk", [1])]],
    ["wait for my approval, then delete the last one", [approve("delete the last one"), list("all", [1]), remove(at(2, -1), [2])]],
    ["delete todo 3 with my approval", [approve("delete todo 3"), remove({ id: 3 }, [1])]],
    ["complete todo 4, but ask me first", [approve("complete todo 4"), complete({ id: 4 }, [1])]],
    ["add a todo to buy milk, then ask me first, then delete it", [add("buy milk"), approve("delete it", [1]), remove(itsId(1), [2])]],
    ["calculate 6 * 7 and ask me before adding the result as a todo", [calc("6 * 7"), approve("add the result as a todo"), add(R(1), [1, 2])]],
    ["ask me before adding todos for milk and bread", [approve("add todos for milk and bread"), add("milk", [1]), add("bread", [2])]],
    ['ask me before you add a todo "call the bank, then pay"', [approve('add a todo "call the bank, then pay"'), add("call the bank, then pay", [1])]],
  ],
  "connecting words belong to the command, not the title": [
    ["add todos for buying milk, paying bills, and calling dentist", inOrder("buying milk", "paying bills", "calling dentist")],
    ["add tasks to buy groceries and pay bills", inOrder("buy groceries", "pay bills")],
    ["add todos to call mom, email boss and water plants", inOrder("call mom", "email boss", "water plants")],
    ["create tasks for laundry and groceries", inOrder("laundry", "groceries")],
    ["add todos for: cleaning, cooking", inOrder("cleaning", "cooking")],
    ["add a todo to: buy milk", [add("buy milk")]],
    ["add tasks to buy groceries and to pay bills", inOrder("buy groceries", "pay bills")],
    ["add todos called alpha, beta and gamma", inOrder("alpha", "beta", "gamma")],
    ["create tasks named wash the car and walk the dog", inOrder("wash the car", "walk the dog")],
    ["add todos titled Q1 report, Q2 report", inOrder("Q1 report", "Q2 report")],
    ["add the following todos: eggs, flour, and sugar", inOrder("eggs", "flour", "sugar")],
    ["add three todos: to call mom, to pay rent and to book flights", inOrder("call mom", "pay rent", "book flights")],
    ["add reminders for dentist and gym", inOrder("dentist", "gym")],
    ["add tasks about taxes and insurance", inOrder("taxes", "insurance")],
    ["add tasks with the titles draft, review and publish", inOrder("draft", "review", "publish")],
    ["add 2 tasks: laundry and dishes", inOrder("laundry", "dishes")],
    ["add todos - paint fence, mow lawn", inOrder("paint fence", "mow lawn")],
    ["add these tasks: pick up kids; buy bread", inOrder("pick up kids", "buy bread")],
    ["add a todo for buying milk", [add("buying milk")]],
    ["add a task titled Quarterly report", [add("Quarterly report")]],
    ["add a todo called renew passport", [add("renew passport")]],
    ["add a todo named fix the sink", [add("fix the sink")]],
    ["add a todo that says call the bank", [add("call the bank")]],
    ["add a todo saying water the plants", [add("water the plants")]],
    ["create a todo about the team offsite", [add("the team offsite")]],
    ["add a reminder to stretch", [add("stretch")]],
    ["new todo: renew passport", [add("renew passport")]],
    ["add a todo to buy milk and a todo to call mom", [add("buy milk"), add("call mom")]],
    ["add a todo to buy bread and milk", [add("buy bread and milk")]],
  ],

  "references to todos by position or recency resolve through a list or an earlier step": [
    ["mark the first one as complete", [list("open"), complete(at(1, 0), [1])]],
    ["complete the first todo", [list("open"), complete(at(1, 0), [1])]],
    ["mark my first todo as done", [list("open"), complete(at(1, 0), [1])]],
    ["mark the 1st one done", [list("open"), complete(at(1, 0), [1])]],
    ["delete my last task", [list("all"), remove(at(1, -1), [1])]],
    ["tick off the top one", [list("open"), complete(at(1, 0), [1])]],
    ["complete the first item on my list", [list("open"), complete(at(1, 0), [1])]],
    ["finish the task I just created", [list("open"), complete(at(1, -1), [1])]],
    ["delete the last one", [list("all"), remove(at(1, -1), [1])]],
    ["delete the last todo I added", [list("all"), remove(at(1, -1), [1])]],
    ["add a todo to buy milk, then delete the last todo I added", [add("buy milk"), remove(itsId(1), [1])]],
    ["add a todo to buy milk, then complete it", [add("buy milk"), complete(itsId(1), [1])]],
    ["add a task to call mom and then remove it", [add("call mom"), remove(itsId(1), [1])]],
    ["add todo pay rent then complete it then delete it", [add("pay rent"), complete(itsId(1), [1]), remove(itsId(2), [2])]],
    ["complete the second one", [list("open"), complete(at(1, 1), [1])]],
    ["mark the third task as done", [list("open"), complete(at(1, 2), [1])]],
    ["finish the 2nd todo", [list("open"), complete(at(1, 1), [1])]],
    ["complete the second to last one", [list("open"), complete(at(1, -2), [1])]],
    ["delete the penultimate todo", [list("all"), remove(at(1, -2), [1])]],
    ["remove the oldest task", [list("all"), remove(at(1, 0), [1])]],
    ["get rid of the newest one", [list("all"), remove(at(1, -1), [1])]],
    ["complete the most recent todo", [list("open"), complete(at(1, -1), [1])]],
    ["delete the one I just added", [list("all"), remove(at(1, -1), [1])]],
    ["add a todo to call mom, then remove the one I just added", [add("call mom"), remove(itsId(1), [1])]],
    ["complete the last open task", [list("open"), complete(at(1, -1), [1])]],
    ["delete the first done todo", [list("done"), remove(at(1, 0), [1])]],
    ["mark as done the last one", [list("open"), complete(at(1, -1), [1])]],
    ["cross off the first one", [list("open"), complete(at(1, 0), [1])]],
    ["show me the first todo", [list("all"), read(at(1, 0), [1])]],
    ["add a todo to call mom then show it", [add("call mom"), read(itsId(1), [1])]],
    // With "and" instead of "then" the rest is the todo's title (rule-planner-titles.test.ts): a title never becomes a delete.
    ["add a todo to buy milk, then delete the last one", [add("buy milk"), list("all", [1]), remove(at(2, -1), [2])]],
    ["list my todos, then delete the first one, then delete the first one", [list("all"), remove(at(1, 0), [1]), list("all", [2]), remove(at(3, 0), [3])]],
  ],

  "a long prompt is never refused for the planner's own explanation": [
    [`add todos: ${tenLongTitles.join(", ")}`, inOrder(...tenLongTitles)],
    [tenLongTitles.map((t) => `add a todo to ${t}`).join(" and "), tenLongTitles.map((t) => add(t))],
    [`add a todo to ${longTitle(1, 480)}`, [add(longTitle(1, 480))]],
    [`add todos: ${fiftyTitles.join(", ")}`, inOrder(...fiftyTitles)],
    [`calculate ${"1 + ".repeat(120)}1`, [calc(`${"1 + ".repeat(120)}1`)]],
  ],

  '"the result" is the latest step that computes a value': [
    ["calculate 6*7 and wait 4 seconds, then add the result as a todo", [calc("6*7"), sleep(4), add(R(1), [1, 2])]],
    ["calculate 3 + 4, wait 2 seconds, then save the result as a todo", [calc("3 + 4"), sleep(2), add(R(1), [1, 2])]],
    ["wait 2 seconds and calculate 3 + 4, then add the result as a todo", [sleep(2), calc("3 + 4"), add(R(2), [1, 2])]],
    ["calculate 2 + 3, then list my todos, then add the result as a todo", [calc("2 + 3"), list("all", [1]), add(R(1), [2])]],
    ["calculate 5 * 5, then add a todo to buy milk, then add the result as a todo", [calc("5 * 5"), add("buy milk", [1]), add(R(1), [2])]],
    ["calculate 10 / 2 then wait 1 second then multiply the result by 3", [calc("10 / 2"), sleep(1, [1]), calc(`${R(1)} * 3`, [2])]],
    ["calculate 2 + 3 then wait 5 seconds and add the result as a todo", [calc("2 + 3"), sleep(5, [1]), add(R(1), [1])]],
    ["fetch https://example.com/n then add the result as a todo", [get("https://example.com/n"), add(R(1, ".body"), [1])]],
    [
      "calculate 4 * 4, then fetch https://example.com/x, then add the result as a todo",
      [calc("4 * 4"), get("https://example.com/x", [1]), add(R(2, ".body"), [2])],
    ],
    ["calculate 1 + 1 and calculate 2 + 2, then add the result as a todo", [calc("1 + 1"), calc("2 + 2"), add(R(2), [1, 2])]],
    ["calculate 7 * 6 then save it as a task", [calc("7 * 6"), add(R(1), [1])]],
    ["calculate 3 * 3 then add it to my list", [calc("3 * 3"), add(R(1), [1])]],
    ["calculate 8 - 3, then add a todo with the result", [calc("8 - 3"), add(R(1), [1])]],
    ["calculate 9 + 1, then add the answer as a todo", [calc("9 + 1"), add(R(1), [1])]],
    ["list my todos then add the count as a todo", [list("all"), add(R(1, ".count"), [1])]],
    ["add the result of 42 * 8 as a todo", [calc("42 * 8"), add(R(1), [1])]],
    ["add a todo with the result of 6 * 7", [calc("6 * 7"), add(R(1), [1])]],
    ["add the result of 6 times 7 to my list", [calc("6 * 7"), add(R(1), [1])]],
  ],

  "trailing punctuation is dropped, whichever mark it is": [
    ["calculate 10 + 5,", [calc("10 + 5")]],
    ["calculate 5 + 3:", [calc("5 + 3")]],
    ["calculate 5 + 3;", [calc("5 + 3")]],
    ["calculate 5 + 3.", [calc("5 + 3")]],
    ["calculate 5 + 3!", [calc("5 + 3")]],
    ["calculate 5 + 3?", [calc("5 + 3")]],
    ["calculate 5 + 3...", [calc("5 + 3")]],
    ["calculate 5 + 3 …", [calc("5 + 3")]],
    ["calculate 5 + 3, please.", [calc("5 + 3")]],
    ["list my todos,", [list()]],
    ["list my todos:", [list()]],
    ["show me my tasks!?", [list()]],
    ["add a todo to buy milk,", [add("buy milk")]],
    ["add a todo to buy milk:", [add("buy milk")]],
    ["wait 5 seconds;", [sleep(5)]],
    ["fetch https://example.com/x,", [get("https://example.com/x")]],
    ["calculate 2 + 2 , then list my todos ,", [calc("2 + 2"), list("all", [1])]],
  ],

  "a follow-up without a number applies to the previous result": [
    ["Calculate 10 + 5, then subtract 15", [calc("10 + 5"), calc(`${R(1)} - 15`, [1])]],
    ["Calculate 10 + 5, then multiply by 2", [calc("10 + 5"), calc(`${R(1)} * 2`, [1])]],
    ["Calculate 10 + 5, then use the result and multiply by 2, and add the result as a todo", [calc("10 + 5"), calc(`${R(1)} * 2`, [1]), add(R(2), [2])]],
    ["calculate 10 + 5 then add 3", [calc("10 + 5"), calc(`${R(1)} + 3`, [1])]],
    ["calculate 10 + 5 then divide by 4", [calc("10 + 5"), calc(`${R(1)} / 4`, [1])]],
    ["calculate 10 then divide the result by 5", [calc("10"), calc(`${R(1)} / 5`, [1])]],
    ["calculate 10 then subtract 3 from the result", [calc("10"), calc(`${R(1)} - 3`, [1])]],
    ["calculate 10 + 5 then multiply that by 3", [calc("10 + 5"), calc(`${R(1)} * 3`, [1])]],
    ["calculate 10 + 5 then square it", [calc("10 + 5"), calc(`(${R(1)}) ** 2`, [1])]],
    ["calculate 10 + 5 then double it", [calc("10 + 5"), calc(`${R(1)} * 2`, [1])]],
    ["calculate 9 then halve it", [calc("9"), calc(`${R(1)} / 2`, [1])]],
    ["calculate 3 then triple the result", [calc("3"), calc(`${R(1)} * 3`, [1])]],
    ["calculate 2 then cube it", [calc("2"), calc(`(${R(1)}) ** 3`, [1])]],
    ["compute 7 * 3, then take away 1", [calc("7 * 3"), calc(`${R(1)} - 1`, [1])]],
    ["calculate 100 then divided by 4", [calc("100"), calc(`${R(1)} / 4`, [1])]],
    ["calculate 6, then times 7", [calc("6"), calc(`${R(1)} * 7`, [1])]],
    ["calculate 4 + 4, then plus 2", [calc("4 + 4"), calc(`${R(1)} + 2`, [1])]],
    ["calculate 20, then minus 5", [calc("20"), calc(`${R(1)} - 5`, [1])]],
    ["calculate 16, then take the square root", [calc("16"), calc(`(${R(1)}) ** 0.5`, [1])]],
    ["calculate 5, then raise it to the power of 3", [calc("5"), calc(`(${R(1)}) ** 3`, [1])]],
    ["calculate 5 then increase it by 10", [calc("5"), calc(`${R(1)} + 10`, [1])]],
    ["calculate 50 then reduce it by 8", [calc("50"), calc(`${R(1)} - 8`, [1])]],
    ["calculate 5 then negate it", [calc("5"), calc(`-(${R(1)})`, [1])]],
    ["calculate 2 + 3 then take the result and multiply by 10", [calc("2 + 3"), calc(`${R(1)} * 10`, [1])]],
    ["calculate 1 + 1 then add 1 then add 1", [calc("1 + 1"), calc(`${R(1)} + 1`, [1]), calc(`${R(2)} + 1`, [2])]],
    ["calculate 10 + 5, then subtract 15, then add the result as a todo", [calc("10 + 5"), calc(`${R(1)} - 15`, [1]), add(R(2), [2])]],
    ["calculate 10 + 5 and multiply by 2", [calc("10 + 5"), calc(`${R(1)} * 2`, [1])]],
  ],

  '"add X as a todo", "put X on my list" and "remind me to X" add todos': [
    ["add buy milk as a todo", [add("buy milk")]],
    ["add 42 * 8 as a todo", [add("42 * 8")]],
    ["add call the plumber as a task", [add("call the plumber")]],
    ["save water the plants as a todo", [add("water the plants")]],
    ["add milk and bread as todos", inOrder("milk", "bread")],
    ["add 'ship it!' as a task", [add("ship it!")]],
    ["put eggs on my list", [add("eggs")]],
    ["put renew license on the todo list", [add("renew license")]],
    ["write call grandma on my list", [add("call grandma")]],
    ["jot down pay rent on my todo list", [add("pay rent")]],
    ["note down renew passport on my list", [add("renew passport")]],
    ["add pick up dry cleaning to my todos", [add("pick up dry cleaning")]],
    ["add book flights to the list", [add("book flights")]],
    ["add pay rent to my to-do list", [add("pay rent")]],
    ["add call mom as a new todo", [add("call mom")]],
    ["remind me to call mom", [add("call mom")]],
    ["remind me about the meeting", [add("the meeting")]],
    ["remind me to call mom and buy milk", [add("call mom and buy milk")]],
    ["remind me to pay rent, then list my todos", [add("pay rent"), list("all", [1])]],
    ["please add feed the cat as a todo, thanks", [add("feed the cat")]],
  ],

  "a verb with an operator plans the arithmetic it obviously means": [
    ["multiply 10 * 2", [calc("10 * 2")]],
    ["divide 20 / 4", [calc("20 / 4")]],
    ["subtract 15 - 8", [calc("15 - 8")]],
    ["add 5 and 3", [calc("5 + 3")]],
    ["sum of 1, 2 and 3", [calc("1 + 2 + 3")]],
    ["add 5 + 3", [calc("5 + 3")]],
    ["multiply 3 and 4", [calc("3 * 4")]],
    ["multiply 2, 3 and 4", [calc("2 * 3 * 4")]],
    ["add up 1, 2, 3 and 4", [calc("1 + 2 + 3 + 4")]],
    ["add together 10 and 20", [calc("10 + 20")]],
    ["sum 5 and 6", [calc("5 + 6")]],
    ["the sum of 4 and 5", [calc("4 + 5")]],
    ["what is the sum of 1, 2 and 3", [calc("1 + 2 + 3")]],
    ["calculate the product of 6 and 7", [calc("6 * 7")]],
    ["what is the difference between 10 and 3", [calc("10 - 3")]],
    ["calculate the average of 2, 4 and 9", [calc("(2 + 4 + 9) / 3")]],
    ["divide 5 into 20", [calc("20 / 5")]],
    ["take 3 away from 10", [calc("10 - 3")]],
    ["what's 2 cubed", [calc("2 ** 3")]],
    ["5 squared", [calc("5 ** 2")]],
    ["what is 15% of 80", [calc("15 / 100 * 80")]],
    ["the square root of 16", [calc("16 ** 0.5")]],
    ["calculate 2^10", [calc("2**10")]],
    ["calculate 3 x 4", [calc("3 * 4")]],
    ["calculate 1,000 + 5", [calc("1000 + 5")]],
    ["what is five plus three", [calc("5 + 3")]],
    ["square 7", [calc("7 ** 2")]],
    ["double 21", [calc("21 * 2")]],
    ["what does 6 times 7 equal", [calc("6 * 7")]],
    ["how much is 12 / 4", [calc("12 / 4")]],
  ],

  "separators inside quotes do not split: a quoted title is one title": [
    ['add todo "a; b"', [add("a; b")]],
    ["add todo 'X; DROP TABLE todos; --'", [add("X; DROP TABLE todos; --")]],
    ['add a todo "buy milk, then call mom"', [add("buy milk, then call mom")]],
    ['add a todo called "eggs and ham"', [add("eggs and ham")]],
    ['add todo "lunch; nap" then list my todos', [add("lunch; nap"), list("all", [1])]],
    ['add todos: "a, b", "c; d" and "e then f"', inOrder("a, b", "c; d", "e then f")],
    ['complete todo "wash; dry"', [complete({ title: "wash; dry" })]],
    ["delete task 'old, stale'", [remove({ title: "old, stale" })]],
    ["add “buy milk; eggs” as a todo", [add("buy milk; eggs")]],
    ['remind me to "call mom, then dad"', [add("call mom, then dad")]],
    ["add todo 'it's fine; really'", [add("it's fine; really")]],
    ['put "a and b" on my list', [add("a and b")]],
    ['add a todo "x" and add a todo "y"', [add("x"), add("y")]],
    ['add todo "50% off; today only!"', [add("50% off; today only!")]],
    ['add a todo to read "Dune" tonight', [add('read "Dune" tonight')]],
  ],

  "a list and an action on one of its todos depend on each other": [
    ["show me my tasks and delete the last one", [list("all"), remove(at(1, -1), [1])]],
    ["list my open todos and complete the first one", [list("open"), complete(at(1, 0), [1])]],
    ["show my tasks, then complete the second one", [list("all"), complete(at(1, 1), [1])]],
    ["list all my todos and mark the first one as done", [list("all"), complete(at(1, 0), [1])]],
    ["show my done tasks then delete the oldest one", [list("done"), remove(at(1, 0), [1])]],
    ["list my todos, then delete the last one and complete the first one", [list("all"), remove(at(1, -1), [1]), complete(at(1, 0), [1])]],
    ["what's on my list? delete the first one", [list("all"), remove(at(1, 0), [1])]],
    ["show me my todos. Then remove the second task.", [list("all"), remove(at(1, 1), [1])]],
    ["list my tasks and show me the first one", [list("all"), read(at(1, 0), [1])]],
    ["list my open todos then complete the first one and delete the second one", [list("open"), complete(at(1, 0), [1]), remove(at(1, 1), [1])]],
    ["add a todo to buy milk, then list my todos and delete the last one", [add("buy milk"), list("all", [1]), remove(at(2, -1), [2])]],
    ["how many todos do I have? complete the last one", [list("all"), complete(at(1, -1), [1])]],
    ["show my open tasks and check off the second one", [list("open"), complete(at(1, 1), [1])]],
    ["show my todos and complete the first one, then list my todos", [list("all"), complete(at(1, 0), [1]), list("all", [2])]],
  ],
};

describe("planFromPrompt: what people actually type", () => {
  for (const [kind, rows] of Object.entries(PHRASINGS)) {
    describe(kind, () => {
      it.each(rows)("%s", (prompt, expected) => {
        expect(planned(prompt)).toEqual(numbered(expected));
      });
    });
  }

  it("holds at least 150 phrasings, at least 5 of each kind", () => {
    const counts = Object.values(PHRASINGS).map((rows) => rows.length);
    expect(counts.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(150);
    for (const n of counts) expect(n).toBeGreaterThanOrEqual(5);
  });
});

/** A path into a plan (steps[0].reasoning, steps.1.input.title) or a plan field: never in a refusal of a prompt that did not name it. */
const PLAN_FIELD = /\bsteps(?:\[\d+\]|\.\d+)|\b(?:reasoning|depends_on|step_number)\b|\binput\.\w+/;

/** Each row: the prompt, the part of it that is refused, and what the refusal must say. */
const REFUSALS: Record<string, [string, string, RegExp][]> = {
  "a todo reference that names no todo": [
    ["complete it", "complete it", /no todo comes before it.*"complete todo 3"/],
    ["calculate 2 + 3 then delete it", "delete it", /no todo comes before it.*"delete the last one"/],
    ["add todo a then delete it then complete it", "complete it", /deleted earlier in this prompt/],
    ["complete all my todos", "complete all my todos", /one todo.*"complete todo 3 and complete todo 4"/],
    ["remove all tasks", "remove all tasks", /one todo/],
    ["complete them", "complete them", /one todo/],
    ["delete the first two todos", "delete the first two todos", /cannot tell which todo.*"delete the first todo"/],
    ["complete the last done todo", "complete the last done todo", /done already/],
    ["show my done tasks then complete the first one", "complete the first one", /done already/],
    ["complete todo 0", "complete todo 0", /ids are whole numbers from 1/],
  ],
  '"the result" with nothing that computes one': [
    ["add the result as a todo", "add the result as a todo", /no step before it computes one.*"calculate 6 \* 7, then add the result as a todo"/],
    ["list my todos then add the result as a todo", "add the result as a todo", /no step before it computes one/],
    ["wait 3 seconds, then add it as a todo", "add it as a todo", /no step before it computes one/],
    ["multiply by 2", "multiply by 2", /previous result.*"calculate 10 \+ 5, then multiply by 2"/],
    ["add a todo to buy milk, then double it", "double it", /previous result/],
    ["add 3", "add 3", /previous result/],
  ],
  "what a tool would refuse, in the words of the prompt": [
    ["wait 0 seconds", "wait 0 seconds", /longer than 0 seconds and at most 7 days.*"wait 5 seconds"/],
    ["wait 8 days, then list my todos", "wait 8 days", /at most 7 days/],
    [`add a todo to ${"y".repeat(600)}`, `add a todo to ${"y".repeat(600)}`, /The title is longer than 500 characters/],
    [`calculate ${"1+".repeat(300)}1`, `calculate ${"1+".repeat(300)}1`, /The expression is longer than 500 characters/],
    [`add todos: ${Array.from({ length: 51 }, (_, i) => `t${i}`).join(", ")}`, "add todos: t0", /51 steps.*at most 50/],
    ["add todo {{steps.1.output}}", "add todo {{steps.1.output}}", /refer to each other.*without the double braces/],
  ],
  "an approval with nothing after it to approve": [
    ["wait for my approval", "wait for my approval", /nothing does.*"ask me before deleting todo 3"/],
    ["add a todo to buy milk, then ask me first", "ask me first", /nothing does/],
    ["calculate 2 + 2 then get my approval", "get my approval", /nothing does/],
    ["list my todos and wait for my ok", "wait for my ok", /nothing does/],
    ["ask me first", "ask me first", /nothing does/],
  ],
  "what it does not understand": [
    ["what is the weather", "what is the weather", /did not understand.*"calculate 2 \+ 3"/],
    ["book me a flight to Paris, then list my todos", "book me a flight to Paris", /did not understand/],
    ["calculate 2 + y", "calculate 2 + y", /did not understand/],
    ["fetch ftp://example.com/x", "fetch ftp://example.com/x", /did not understand/],
    ["add a todo to buy milk then fly to the moon", "fly to the moon", /did not understand/],
  ],
};

describe("planFromPrompt: refusals say what they did not plan and what to write instead", () => {
  for (const [kind, rows] of Object.entries(REFUSALS)) {
    describe(kind, () => {
      it.each(rows)("%s", (prompt, part, says) => {
        const result = planFromPrompt(prompt);
        if (result.ok) expect.fail(`expected ${JSON.stringify(prompt)} to be refused, got ${JSON.stringify(result.steps)}`);
        expect(result.unparsed.some((u) => u.startsWith(part.slice(0, 120)))).toBe(true);
        const message = refusalMessage(result.refusals);
        expect(message).toMatch(says);
        expect(message).toContain(`"${part.slice(0, 40)}`);
        if (!PLAN_FIELD.test(prompt)) expect(message).not.toMatch(PLAN_FIELD);
      });
    });
  }
});
