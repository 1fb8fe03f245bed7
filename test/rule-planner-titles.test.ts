import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { findReferences } from "../src/planner/references";
import { planFromPrompt, refusalMessage } from "../src/planner/rule-planner";
import { RESULT_WORDS } from "../src/planner/rules/expression";
import { validatePlan } from "../src/planner/validate-plan";
import { R, add, approve, calc, complete, remove, sleep, type Expected } from "./plan-rows";

/**
 * Issue 32: the original project's own headline prompts plan to what their words mean, a todo's
 * title never becomes a destructive step, and where a title ends is one rule for every script.
 * Each row is a prompt and its whole plan: every step's tool, input and dependencies.
 */

const list = (depends_on: number[] = []): Expected => ({ tool: "TodoStore.list", input: { status: "all" }, depends_on });

function planned(prompt: string) {
  const result = planFromPrompt(prompt);
  if (!result.ok) throw new Error(`${JSON.stringify(prompt)} was refused: ${refusalMessage(result.refusals)}`);
  expect(validatePlan({ steps: result.steps }).ok).toBe(true);
  return result.steps.map(({ tool, input, depends_on }) => ({ tool, input, depends_on }));
}

// 10 + 5 = 15, 15 - 15 = 0: the todo is titled with step 2's value, and the list waits for it.
const HEADLINE = [calc("10 + 5"), calc(`${R(1)} - 15`, [1]), add(R(2), [2]), list([3])];
const BUGS = [calc("10 + 5"), calc(`${R(1)} - 15`, [1]), add(`I have ${R(2)} bugs to fix`, [2]), list([3])];

const PLANS: Record<string, [string, Expected[]][]> = {
  "the original project's own prompts": [
    ["Calculate 10 + 5, then use the result and subtract it by 15, then add the final number as a todo, then show me all my tasks", HEADLINE],
    [
      "Calculate 10 + 5, then use the result and subtract it by 15, then add the final number as a todo item like `I have x bugs to fix` (where x is the output of step 2), then show me all my tasks",
      BUGS,
    ],
    ["Calculate (42 * 8) + 15, multiply by 2, add as todo", [calc("(42 * 8) + 15"), calc(`${R(1)} * 2`, [1]), add(R(2), [2])]],
  ],

  "near variants: other verbs and other words for the result": [
    ["Calculate 10 + 5, then minus 15, then add the final number as a todo, then show me all my tasks", HEADLINE],
    ["Calculate 10 + 5, then take away 15, then add the answer as a todo, then show me all my tasks", HEADLINE],
    ["calculate 10 + 5, then take away 15 from it, then add that result as a todo, then show me all my tasks", HEADLINE],
    ["calculate 10 + 5, then subtract 15 from the answer, then save the final number as a task, then list my tasks", HEADLINE],
    ["calculate 10 + 5, then minus it by 15, then add the answer to my todos, then show me all my tasks", HEADLINE],
    ["calculate 10 + 5, then deduct 15, then put that result on my list, then show me all my tasks", HEADLINE],
    ["calculate 10 + 5, then use that result and subtract 15, then add it as a todo, then show me all my tasks", HEADLINE],
    ["calculate 10 + 5, then take the answer and subtract it by 15, then add this value as a todo, then show me all my tasks", HEADLINE],
    ['calculate 10 + 5, then subtract it by 15, then add a todo like "I have x bugs to fix" (where x is the result), then show me all my tasks', BUGS],
    ["calculate 10 + 5, then subtract 15, then add it as a todo titled 'I have N bugs to fix' where N is the final number, then list my todos", BUGS],
    ["calculate 10 + 5, then subtract 15, then add the answer as a todo like `I have x bugs to fix` (where x is step 2's output), then list my todos", BUGS],
    ["calculate (42*8)+15, then multiply it by 2, then save as a task", [calc("(42*8)+15"), calc(`${R(1)} * 2`, [1]), add(R(2), [2])]],
    ["calculate (42 * 8) + 15, then double it and add as a todo", [calc("(42 * 8) + 15"), calc(`${R(1)} * 2`, [1]), add(R(2), [2])]],
    // "the number of todos" is a count, not "the number": a list's count, never a calculation's result.
    ["calculate 2 + 2, then list my todos, then add the number of todos as a todo", [calc("2 + 2"), list([1]), add(R(2, ".count"), [2])]],
    // A where-clause that names no value is part of the title.
    ["add a todo to go where it is warm", [add("go where it is warm")]],
  ],

  "a title with ;, --, quotes or SQL in it is one title": [
    ["add todo '; DROP TABLE todos; --", [add("'; DROP TABLE todos; --")]],
    ['add todo "; DROP TABLE todos; --', [add('"; DROP TABLE todos; --')]],
    ["add todo Robert'); DROP TABLE todos;--", [add("Robert'); DROP TABLE todos;--")]],
    ["add todo SELECT * FROM todos WHERE 1=1; DELETE FROM todos", [add("SELECT * FROM todos WHERE 1=1; DELETE FROM todos")]],
    ["add todo x; delete todo 3", [add("x; delete todo 3")]],
    ["add todo x -- delete todo 3", [add("x -- delete todo 3")]],
    ["add a todo to remove the old shelf; drop off the boxes", [add("remove the old shelf; drop off the boxes")]],
    ["add a todo to buy paint and finish the fence", [add("buy paint and finish the fence")]],
    ["add todo x and complete todo 3", [add("x and complete todo 3")]],
    ["add a todo: buy milk, and mark todo 2 as done", [add("buy milk, and mark todo 2 as done")]],
    ["add a todo to buy milk and delete the last one", [add("buy milk and delete the last one")]],
    ["remind me to finish the report and close the ticket", [add("finish the report and close the ticket")]],
    ["add todos: a, b and delete todo 3", [add("a"), add("b", [1]), add("delete todo 3", [2])]],
    ["add todo 'X; DROP TABLE todos; --' then list my todos", [add("X; DROP TABLE todos; --"), list([1])]],
    ["add todo `rm -rf /; drop table todos`", [add("rm -rf /; drop table todos")]],
    // "it --" is no calculation (the calculator cannot read "x --"), so it is no clause to split off.
    ["add todo delete todo 3; it --", [add("delete todo 3; it --")]],
    // Dropping todos the user asked for in so many words is a clause, not a title.
    [
      "add a todo to buy milk, then delete the last one",
      [add("buy milk"), { tool: "TodoStore.list", input: { status: "all" }, depends_on: [1] }, remove({ id: R(2, ".todos.-1.id") }, [2])],
    ],
    ["add todo x. Delete todo 3", [add("x"), remove({ id: 3 }, [1])]],
    ["add todo 'x'. Delete todo 3", [add("x"), remove({ id: 3 }, [1])]],
    // Quoted or not, the same rule: at "," what follows stays in the title unless it is harmless.
    ["add todo 'x', delete todo 3", [add("'x', delete todo 3")]],
    ['add todo "x" and list my todos', [add("x"), list()]],
    ["add buy milk as a todo and complete todo 3", [add("buy milk"), complete({ id: 3 })]],
  ],

  'what may follow a title at , ; or "and": more todos and steps that change nothing': [
    ["add todo: buy milk and list my todos", [add("buy milk"), list()]],
    ["add todo x; list my todos", [add("x"), list([1])]],
    ["add a todo to buy milk and a todo to call mom", [add("buy milk"), add("call mom")]],
    ["add a todo to buy milk, wait 5 seconds", [add("buy milk"), sleep(5)]],
    ["add a todo to buy milk, but ask me first", [approve("add a todo to buy milk"), add("buy milk", [1])]],
  ],
};

describe("planFromPrompt (issue 32)", () => {
  for (const [kind, rows] of Object.entries(PLANS)) {
    describe(kind, () => {
      it.each(rows)("%s", (prompt, expected) => {
        expect(planned(prompt)).toEqual(expected);
      });
    });
  }
});

describe("an expression the calculator cannot read", () => {
  it.each(["calculate 5 --", "calculate 5 * 3 -", "what is 2 + 3)"])("is not planned as a calculation sure to fail: %s", (prompt) => {
    expect(planFromPrompt(prompt).ok).toBe(false);
  });
});

describe("a title with a value in it", () => {
  it.each([
    ["calculate 10 + 5, then add it as a todo like 'I have x bugs'", /not which word the value replaces.*where x is the result/],
    ["calculate 10 + 5, then add the result as a todo like `x` (where x is the output of step 5)", /plans 1 step before it, so there is no step 5/],
    ["list my todos, then add a todo like `x left` (where x is the output of step 1)", /step 1 \(TodoStore.list\) does not compute a value/],
    ["add a todo like 'I have x bugs' (where x is the result)", /no step before it computes one/],
    ["calculate 1 + 1, then add a todo like 'I have some bugs' (where x is the result)", /"x" does not appear in the title "I have some bugs"/],
  ])("is refused, saying why, when it cannot be filled: %s", (prompt, says) => {
    const result = planFromPrompt(prompt);
    if (result.ok) expect.fail(`expected ${JSON.stringify(prompt)} to be refused, got ${JSON.stringify(result.steps)}`);
    expect(refusalMessage(result.refusals)).toMatch(says);
  });

  it("fills the placeholder as a whole word only, never the x in fix", () => {
    expect(planned("calculate 2 + 2, then add a todo like 'x: fix x boxes' (where x is the result)")[1]!.input).toEqual({
      title: `${R(1)}: fix ${R(1)} boxes`,
    });
  });
});

// The same words in many scripts. Each sample ends in a letter (or mark) of its script, so "then"
// written straight after it is inside a word, as "milkthen" is.
const SCRIPTS: [string, string][] = [
  ["Latin", "buy milk"],
  ["Latin with accents", "acheter du café"],
  ["Han", "买牛奶"],
  ["Kana", "牛乳をかう"],
  ["Hangul", "우유 사기"],
  ["Cyrillic", "купить молоко"],
  ["Greek", "αγορά γάλα"],
  ["Arabic", "شراء الحليب"],
  ["Hebrew", "לקנות חלב"],
  ["Devanagari", "दूध खरीदें"],
  ["Thai", "ซื้อนม"],
];

describe("where a title ends is one rule for every script", () => {
  // `add todo: 买牛奶 🥛 and review` keeps "and review": "review" alone is no command the planner or
  // anyone could run, and "and" is common inside a title. See src/planner/rules/boundaries.ts.
  it.each(SCRIPTS)('%s: a title runs on across "and" until a command', (_script, words) => {
    expect(planned(`add todo: ${words} 🥛 and review`)).toEqual([add(`${words} 🥛 and review`)]);
    expect(planned(`add todo: ${words} and review`)).toEqual([add(`${words} and review`)]);
    expect(planned(`add todo: ${words} 🥛 and list my todos`)).toEqual([add(`${words} 🥛`), list()]);
    expect(planned(`add todo: ${words}; delete todo 3`)).toEqual([add(`${words}; delete todo 3`)]);
    expect(planned(`add todo: ${words} then list my todos`)).toEqual([add(words), list([1])]);
    expect(planned(`add todos: ${words}, ${words} 2 and review`)).toEqual([add(words), add(`${words} 2`, [1]), add("review", [2])]);
  });

  it.each(SCRIPTS)('%s: "then" written against a word is part of it, as in "milkthen"', (_script, words) => {
    expect(planned(`add todo ${words}then list my todos`)).toEqual([add(`${words}then list my todos`)]);
  });
});

// Title text for the properties below: anything, and the pieces that have turned titles into
// commands elsewhere (separators, SQL, the planner's own destructive verbs, quote marks). What the
// rule calls a clear boundary is left out: "then", "after that" and a sentence's end (".", "!" or
// "?" and a space), after which a new command is meant to be one.
const HOSTILE = [
  ";",
  "; ",
  " -- ",
  "--",
  ",",
  ", and ",
  " and ",
  "'",
  '"',
  "`",
  "“",
  "«",
  "(",
  ")",
  "=",
  "*",
  "/*",
  "*/",
  "DROP TABLE todos",
  "DELETE FROM todos",
  "1=1",
  "OR",
  "delete todo 3",
  "delete the last one",
  "delete it",
  "remove todo #2",
  "drop",
  "drop off the boxes",
  "complete todo 1",
  "complete it",
  "mark it as done",
  "mark todo 2 as done",
  "finish the fence",
  "close the ticket",
  "check off buy milk",
  "erase all",
  "get rid of the first one",
  "delete all my todos",
  "x",
  "milk",
  "买牛奶",
  "🥛",
  "it",
  "the result",
];
// "add todo it" (or "add todo -- it") adds "the result", and is refused when nothing computes one: that title is not free text.
const ONLY_RESULT = new RegExp(`^${RESULT_WORDS}$`, "i");
const BOUNDARY = /(?<![\p{L}\p{M}\p{N}_])(?:then|after that|after this|afterwards)(?![\p{L}\p{M}\p{N}_])|[.!?]\s/iu;
// Random text without digits: "2 * 3" after a ";" is a calculation, which may split off (below).
const CHARS = [..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ ;,:-'\"`()[]{}<>=*_/\\|&%$#@~^牛奶买ée🥛—–“”«»\t"];
const noise = fc.string({ unit: fc.constantFrom(...CHARS), maxLength: 12 });
const titleText = (pieces: fc.Arbitrary<string>) =>
  fc
    .array(fc.oneof({ weight: 1, arbitrary: noise }, { weight: 4, arbitrary: pieces }), { minLength: 1, maxLength: 12 })
    .map((parts) => parts.join(" ").trim())
    .filter(
      (t) =>
        // Words in it besides "and" (a title of separators only is none), no clear boundary, not only "it".
        /[\p{L}\p{N}]/u.test(t.replace(/(?<!\p{L})and(?!\p{L})/giu, "")) &&
        !BOUNDARY.test(t) &&
        !ONLY_RESULT.test(t.replace(/^(?:(?:to|for|about|called|named|titled|saying|reading)(?!\p{L})|[\s:\-–—])+|[\s.,;:!?]+$/giu, "")) &&
        findReferences(t).length === 0 &&
        t.length <= 400,
    );

describe("add todo <any text>", () => {
  it("plans TodoStore.add steps and nothing else", () => {
    fc.assert(
      fc.property(titleText(fc.constantFrom(...HOSTILE)), (text) => {
        const result = planFromPrompt(`add todo ${text}`);
        if (!result.ok) throw new Error(`"add todo ${text}" was refused: ${refusalMessage(result.refusals)}`);
        expect(result.steps.map((s) => s.tool)).toEqual(result.steps.map(() => "TodoStore.add"));
        expect(validatePlan({ steps: result.steps }).ok).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  // A command that changes nothing may follow a title at "," ";" or "and" ("and list my todos"); it
  // ends the title, and nothing in the title before it becomes a step.
  const HARMLESS_COMMANDS: [string, Omit<Expected, "depends_on">][] = [
    [" and list my todos", { tool: "TodoStore.list", input: { status: "all" } }],
    [", show my open tasks", { tool: "TodoStore.list", input: { status: "open" } }],
    ["; wait 5 seconds", { tool: "Wait.sleep", input: { seconds: 5 } }],
    [" and a todo to call mom", { tool: "TodoStore.add", input: { title: "call mom" } }],
    [", calculate 2 + 2", { tool: "Calculator.evaluate", input: { expression: "2 + 2" } }],
  ];
  it("followed by a command that changes nothing plans the todos of its title, then that command", () => {
    // The title ends in a word: separators at its end would run into the command's own.
    const ending = titleText(fc.constantFrom(...HOSTILE)).filter((t) => !/(?:[\s,;:.!?-]|(?<!\p{L})and)$/iu.test(t));
    fc.assert(
      fc.property(ending, fc.constantFrom(...HARMLESS_COMMANDS), (text, [command, step]) => {
        const alone = planFromPrompt(`add todo ${text}`);
        const result = planFromPrompt(`add todo ${text}${command}`);
        if (!alone.ok || !result.ok) throw new Error(`"add todo ${text}${command}" was refused`);
        expect(result.steps.map(({ tool, input }) => ({ tool, input }))).toEqual([...alone.steps.map(({ tool, input }) => ({ tool, input })), step]);
      }),
      { numRuns: 500 },
    );
  });
});
