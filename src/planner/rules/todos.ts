// Clauses that add or list todos: "add a todo to buy milk", "add todos for a, b and c", "add buy
// milk as a todo", "put X on my list", "remind me to X", "add the result as a todo", "add the
// result of 42 * 8 as a todo", "show me my open tasks".
import { because, refuse, type ClauseContext, type ClauseResult, type Draft, type Refuse } from "./context";
import { RESULT_WORDS, toExpression } from "./expression";
import { MANY_TODOS, ONE_TODO, TITLE_PARTICLE, cleanTitle, splitTitles } from "./todo-titles";

const NO_RESULT =
  'it adds a result, and no step before it computes one. Start with the calculation ("calculate 6 * 7, then add the result as a todo") or write the title ("add a todo to buy milk").';

const add = (ctx: ClauseContext, clause: string, title: unknown, what: string): Draft => ({
  tool: "TodoStore.add",
  input: { title },
  reasoning: because(ctx, clause, what),
});

/**
 * What "add X as a todo" adds: the previous result for "it" or "the result", a new calculation's
 * value for "the result of 42 * 8", the count of a list for "the count", else X as a title (several
 * titles when the user said "todos").
 */
const ONLY_RESULT = new RegExp(`^${RESULT_WORDS}$`, "i");

function addWhat(what: string, clause: string, ctx: ClauseContext, many: boolean): ClauseResult {
  const templated = many ? undefined : titleTemplate(what, ctx);
  if (templated) return "refuse" in templated ? templated : [add(ctx, clause, templated.title, "adds a todo titled with a value from an earlier step.")];
  if (ONLY_RESULT.test(what)) {
    const result = ctx.result();
    return result ? [add(ctx, clause, result, "adds the previous result as a todo.")] : refuse(NO_RESULT);
  }
  const of = /^(?:the\s+)?(?:result|value|answer)\s+of\s+(?:calculating\s+|computing\s+)?(.+)$/i.exec(what);
  const expression = of ? toExpression(of[1]!, ctx) : undefined;
  if (expression !== undefined) {
    const calc: Draft = {
      tool: "Calculator.evaluate",
      input: { expression },
      reasoning: because(ctx, clause, "calculates the value the todo is titled with."),
    };
    return [calc, add(ctx, clause, `{{steps.${ctx.next}.output}}`, "adds the calculated value as a todo.")];
  }
  if (/^the\s+(?:count|number\s+of\s+(?:todos|tasks))$/i.test(what)) {
    const count = ctx.count();
    return count ? [add(ctx, clause, count, "adds the number of todos listed as a todo.")] : undefined;
  }
  const titles = many ? splitTitles(what, ctx) : [cleanTitle(what, ctx)].filter((t) => t.trim());
  // One after the other: a list keeps the order it was typed in (ids follow insertions), so "the
  // first one" and "the last one" later mean what the user sees in the prompt.
  return titles.length
    ? titles.map((t, i) => ({ ...add(ctx, clause, t, titles.length > 1 ? "adds one of several todos." : "adds a todo."), ...(i > 0 ? { ordered: true } : {}) }))
    : undefined;
}

/** A value an earlier step computed, as the user names it: "the result", "the output of step 2", "step 2's result". */
const STEP_VALUE =
  /^(?:the\s+)?(?:output|result|value|answer|number)\s+(?:of|from)\s+step\s+(\d{1,3})$|^step\s+(\d{1,3})(?:['’]s)?(?:\s+(?:output|result|value|answer))?$/i;

function namedValue(text: string, ctx: ClauseContext): string | Refuse | undefined {
  const step = STEP_VALUE.exec(text);
  if (step) return ctx.resultOf(Number(step[1] ?? step[2]));
  if (!ONLY_RESULT.test(text)) return undefined;
  return ctx.result() ?? refuse(NO_RESULT);
}

// "… like `I have x bugs to fix` (where x is the output of step 2)": a title with a placeholder and
// the value it stands for. Only a where-clause that names a value counts, so "go where it is warm"
// stays a plain title.
const TEMPLATE =
  /^(?:(?:like|such as|saying|that says|reading|titled|called|named|in the form|of the form)\s*:?\s+|:\s*)?(.+?)\s*[,(]?\s*\(?where\s+(\S+)\s+(?:is|=|stands for|means|being)\s+(.+?)\s*\)?$/i;

/** A title made from a template: undefined when `text` is not one, a refusal when its value is not there. */
function titleTemplate(text: string, ctx: ClauseContext): { title: string } | Refuse | undefined {
  const m = TEMPLATE.exec(text);
  const value = m ? namedValue(m[3]!.trim(), ctx) : undefined;
  if (!m || value === undefined) return undefined;
  if (typeof value !== "string") return value;
  const template = cleanTitle(m[1]!, ctx);
  const placeholder = m[2]!.replace(/^[`'"{]+|[`'"}]+$/g, "");
  // A placeholder is a whole word in any script: "x" in "I have x bugs to fix", never the x in "fix".
  const at = new RegExp(`(?<![\\p{L}\\p{M}\\p{N}_])\\{?${placeholder.replace(/[\\^$.*+?()[\]{}|/]/g, "\\\\$&")}\\}?(?![\\p{L}\\p{M}\\p{N}_])`, "gu");
  if (!placeholder || !at.test(template))
    return refuse(
      `"${placeholder}" does not appear in the title "${template}", so there is nowhere to put the value. Write the title with it, e.g. "like 'I have x bugs to fix' (where x is the result)".`,
    );
  return { title: template.replace(at, () => value) };
}

// Longer phrasings first: "note down X" must not read as "note" + "down X".
const PUT = String.raw`(?:write down|note down|jot down|add|put|save|store|record|write|note|stick|place|append|create|make|set)`;
const LIST_NOUN = String.raw`(?:(?:my|the|our)\s+)?(?:(?:todo|to-do|to do|task|shopping|reminders?)\s+)?(?:list|todos|tasks|to-dos|reminders)`;

type TodoParser = (clause: string, ctx: ClauseContext) => ClauseResult;

const AS_NOUN = String.raw`as\s+(?:a\s+|an\s+|my\s+|one\s+|the\s+)?(?:new\s+)?(${MANY_TODOS}|${ONE_TODO})(?:\s+item)?`;
const AS_TODO = new RegExp(`^${PUT}\\s+(.+?)\\s+${AS_NOUN}$`, "i");
const AS_TODO_LIKE = new RegExp(
  `^${PUT}\\s+(.+?)\\s+${AS_NOUN}\\s+((?:like|such as|saying|that says|reading|titled|called|named|in the form|of the form)\\b.+|:.+)$`,
  "i",
);
/** "add as todo", "save as a task": the verb's object left out, which after a calculation is its result. */
const AS_TODO_ALONE = new RegExp(`^${PUT}\\s+${AS_NOUN}$`, "i");
const PLURAL = new RegExp(`^${MANY_TODOS}$`, "i");

/**
 * "add buy milk as a todo", "save the result as a task", "add milk and bread as todos", "add as
 * todo", "add the final number as a todo item like `I have x bugs to fix` (where x is the output
 * of step 2)".
 */
const asTodo: TodoParser = (c, ctx) => {
  if (AS_TODO_ALONE.test(c)) return addWhat("it", c, ctx, false);
  const like = AS_TODO_LIKE.exec(c);
  if (like && !PLURAL.test(like[2]!)) {
    // The value is named twice, "the final number" and "(where x is …)": the where-clause says
    // which, and without one the planner cannot tell which word of the title the value replaces.
    const t = titleTemplate(like[3]!, ctx);
    if (!t)
      return refuse(`it gives a title to fill in but not which word the value replaces. Say so: "… like 'I have x bugs to fix' (where x is the result)".`);
    return "refuse" in t ? t : [add(ctx, c, t.title, "adds a todo titled with a value from an earlier step.")];
  }
  const m = AS_TODO.exec(c);
  return m ? addWhat(m[1]!, c, ctx, PLURAL.test(m[2]!)) : undefined;
};

const ON_LIST = new RegExp(`^${PUT}\\s+(.+?)\\s+(?:on|to|in|onto|into)\\s+${LIST_NOUN}$`, "i");

/** "put milk on my list", "add the result to my todos", "write call mom on the todo list". */
const onList: TodoParser = (c, ctx) => {
  const m = ON_LIST.exec(c);
  return m ? addWhat(m[1]!, c, ctx, false) : undefined;
};

const WITH_VALUE = new RegExp(
  `^(?:add|create|make|new)\\s+(?:a\\s+|an\\s+|one\\s+)?(?:new\\s+)?${ONE_TODO}\\s+(?:with|containing|for|of)\\s+(${RESULT_WORDS}|(?:the\\s+)?(?:result|value|answer)\\s+of\\s+.+)$`,
  "i",
);

/** "add a todo with the result", "create a task for the result of 6 * 7". */
const todoWithValue: TodoParser = (c, ctx) => {
  const m = WITH_VALUE.exec(c);
  return m ? addWhat(m[1]!, c, ctx, false) : undefined;
};

/** "remind me to call mom", "remind me about the meeting". */
const remindMe: TodoParser = (c, ctx) => {
  const m = /^remind\s+me\s+(?:to|about|of)\s+(.+)$/i.exec(c);
  return m ? addWhat(m[1]!, c, ctx, false) : undefined;
};

const COUNTED = String.raw`(?:these\s+|the\s+following\s+|some\s+|a\s+few\s+|a\s+couple\s+of\s+|a\s+list\s+of\s+|\d+\s+|two\s+|three\s+|four\s+|five\s+)`;
const SEVERAL = new RegExp(`^(?:add|create|make|new|put|set\\s+up)\\s+${COUNTED}?(?:new\\s+)?${MANY_TODOS}\\s*(?:${TITLE_PARTICLE}\\s*)*(.+)$`, "i");

/** "add todos: a, b and c", "add tasks to buy groceries and pay bills", "create three todos for x, y and z". */
const severalTodos: TodoParser = (c, ctx) => {
  const m = SEVERAL.exec(c);
  return m ? addWhat(m[1]!, c, ctx, true) : undefined;
};

const ONE = [
  new RegExp(
    `^(?:add|create|make|new|put|set\\s+up|save)\\s+(?:a\\s+|an\\s+|one\\s+|another\\s+)?(?:new\\s+)?${ONE_TODO}(?:\\s+item)?\\s*(?:${TITLE_PARTICLE}\\s*)*(.+)$`,
    "i",
  ),
  new RegExp(`^(?:new\\s+)?${ONE_TODO}\\s*:\\s*(.+)$`, "i"),
  // The verb shared with the clause before: "add a todo to buy milk and a todo to call mom".
  new RegExp(`^(?:a|an|another|one more)\\s+(?:new\\s+)?${ONE_TODO}\\s*${TITLE_PARTICLE}\\s*(.+)$`, "i"),
];

/** "add a todo to buy milk", "add todo buy milk", "create a task called "pay rent"", "todo: call mom", "… and a todo to call mom". */
const oneTodo: TodoParser = (c, ctx) => {
  const m = ONE.map((re) => re.exec(c)).find(Boolean);
  return m ? addWhat(m[1]!, c, ctx, false) : undefined;
};

const OPEN = /^(?:open|pending|incomplete|unfinished|outstanding|remaining|active|undone|not done)$/i;
const DONE = /^(?:done|completed|complete|finished|closed|checked off)$/i;
const STATUS = String.raw`(?:open|pending|incomplete|unfinished|outstanding|remaining|active|undone|not done|done|completed|complete|finished|closed|checked off|all)`;

export const statusOf = (word: string | undefined): "open" | "done" | "all" => (!word ? "all" : OPEN.test(word) ? "open" : DONE.test(word) ? "done" : "all");

const list = (ctx: ClauseContext, clause: string, status: "open" | "done" | "all"): Draft[] => [
  { tool: "TodoStore.list", input: { status }, reasoning: because(ctx, clause, `lists ${status === "all" ? "all" : status} todos.`) },
];

const LIST_VERB = String.raw`(?:list|show|display|get|give|see|view|print|read|read out|tell me|fetch|check|review|count|what are|what['’]s|whats|what is)`;
const LISTS = [
  new RegExp(
    `^${LIST_VERB}\\s+(?:me\\s+)?(?:all\\s+)?(?:of\\s+)?(?:my\\s+|the\\s+|our\\s+)?(?:(${STATUS})\\s+)?(?:${MANY_TODOS}|(?:todo|to-do|task)\\s+list|list)(?:\\s+list)?(?:\\s+(?:that\\s+are\\s+|which\\s+are\\s+|i\\s+have\\s+)?(${STATUS}))?$`,
    "i",
  ),
  new RegExp(`^(?:what(?:['’]s|\\s+is)|whats|show\\s+me\\s+(?:what['’]s|what\\s+is|everything))\\s+(?:on|in)\\s+${LIST_NOUN}$`, "i"),
  new RegExp(`^how\\s+many\\s+(?:(${STATUS})\\s+)?${MANY_TODOS}\\s+(?:do\\s+i\\s+have|are\\s+there|have\\s+i\\s+got)(?:\\s+(${STATUS}))?$`, "i"),
  new RegExp(`^how\\s+many\\s+${MANY_TODOS}\\s+are\\s+(${STATUS})$`, "i"),
];
const WHATS_LEFT = /^(?:what(?:['’]s|\s+is)|whats)\s+left(?:\s+to\s+do)?$|^what\s+do\s+i\s+(?:still\s+)?(?:have|need)\s+to\s+do$/i;

/** "list my todos", "show me all my open tasks", "what's on my list", "how many tasks are done". */
const listTodos: TodoParser = (c, ctx) => {
  const m = LISTS.map((re) => re.exec(c)).find(Boolean);
  if (m) return list(ctx, c, statusOf(m[1] ?? m[2]));
  return WHATS_LEFT.test(c) ? list(ctx, c, "open") : undefined;
};

export const TODO_PARSERS: TodoParser[] = [asTodo, onList, todoWithValue, remindMe, severalTodos, oneTodo, listTodos];
