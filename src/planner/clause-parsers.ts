/**
 * Recognisers for one clause of a prompt ("calculate 2 + 3", "add a todo to buy milk"). Each turns
 * a clause into zero or more steps; `ref` stands for the output of the step before the clause
 * ("the result", "it"), and using it makes the clause depend on that step.
 */
export interface ClauseStep {
  tool: string;
  input: Record<string, unknown>;
  reasoning: string;
}

export interface ClauseContext {
  /** `{{steps.N.output<path>}}` of the previous step; undefined when there is none. */
  ref(path?: string): string | undefined;
}

type Parser = (clause: string, ctx: ClauseContext) => ClauseStep[] | undefined;

const TODO = String.raw`(?:todos?|tasks?|to-dos?)`;
const RESULT = /^(?:the (?:previous |last )?result|it|that|this)$/i;
const NUMBER = String.raw`-?\d+(?:\.\d+)?`;

function unquote(s: string): string {
  const m = /^\s*["'“‘](.*)["'”’]\s*$/s.exec(s);
  return (m ? m[1]! : s).trim();
}

/** "the result" → reference, a number → itself; anything else is not an operand. */
function operand(word: string, ctx: ClauseContext): string | undefined {
  const w = word.trim();
  if (RESULT.test(w)) return ctx.ref();
  return new RegExp(`^${NUMBER}$`).test(w) ? w : undefined;
}

const WORD_OPERATORS: [RegExp, string][] = [
  [/\bto the power of\b/gi, "**"],
  [/\bmultiplied by\b/gi, "*"],
  [/\bdivided by\b/gi, "/"],
  [/\bplus\b/gi, "+"],
  [/\bminus\b/gi, "-"],
  [/\btimes\b/gi, "*"],
  [/\bmod(?:ulo)?\b/gi, "%"],
  [/[×x](?=\s*[\d(.])/g, "*"],
  [/÷/g, "/"],
];

/** Turns "5 plus the result" into "5 + {{steps.1.output}}"; undefined when words remain. */
function toExpression(text: string, ctx: ClauseContext): string | undefined {
  let expr = text.replace(/[?.!]+$/, "").trim();
  for (const [re, op] of WORD_OPERATORS) expr = expr.replace(re, op);
  let missingRef = false;
  expr = expr.replace(/\b(?:the (?:previous |last )?result|it|that)\b/gi, () => {
    const r = ctx.ref();
    if (!r) missingRef = true;
    return r ?? "";
  });
  if (missingRef) return undefined;
  const withoutRefs = expr.replace(/\{\{[^}]*\}\}/g, "1");
  if (!/^[\d\s+\-*/%().eE]+$/.test(withoutRefs) || !/\d/.test(withoutRefs)) return undefined;
  return expr;
}

const calc = (expression: string, why: string): ClauseStep[] => [{ tool: "Calculator.evaluate", input: { expression }, reasoning: why }];

const parsers: Parser[] = [
  // wait 5 seconds / sleep for 2 minutes
  (c) => {
    const m = /^(?:wait|sleep|pause)(?: for)? (\d+(?:\.\d+)?) ?(seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h)$/i.exec(c);
    if (!m) return undefined;
    const unit = m[2]!.toLowerCase();
    const factor = unit.startsWith("h") ? 3600 : unit.startsWith("m") ? 60 : 1;
    return [{ tool: "Wait.sleep", input: { seconds: Number(m[1]) * factor }, reasoning: `"${c}" waits before what follows.` }];
  },
  // add the result as a todo / add a todo with the result
  (c, ctx) => {
    const m =
      new RegExp(
        `^(?:add|save|store|record|create)\\s+(the (?:previous |last )?result|it|that)\\s+(?:as|to)\\s+(?:a |an |my )?(?:new )?${TODO}(?: list)?$`,
        "i",
      ).exec(c) ??
      new RegExp(`^(?:add|create)\\s+(?:a |an )?(?:new )?${TODO}\\s+(?:with|containing|for)\\s+(the (?:previous |last )?result|it|that)$`, "i").exec(c);
    const ref = m && ctx.ref();
    if (!ref) return undefined;
    return [{ tool: "TodoStore.add", input: { title: ref }, reasoning: `"${c}" adds the previous step's result as a todo.` }];
  },
  // add todos: a, b and c
  (c) => {
    const m = new RegExp(`^(?:add|create)\\s+(?:these |the following |some )?(?:todos|tasks|to-dos)\\s*:?\\s+(.+)$`, "i").exec(c);
    if (!m) return undefined;
    const titles = m[1]!
      .split(/\s*,\s*(?:and\s+)?|\s+and\s+/i)
      .map(unquote)
      .filter(Boolean);
    return titles.map((title) => ({ tool: "TodoStore.add", input: { title }, reasoning: `"${c}" adds "${title}" as one of several todos.` }));
  },
  // add a todo to buy milk / remind me to call mom / add "x" to my todos
  (c) => {
    const m =
      new RegExp(
        `^(?:add|create|make|new)\\s+(?:a |an |one |another )?(?:new )?${TODO}(?: item)?\\s*(?::|to|called|titled|named|saying|that says)?\\s+(.+)$`,
        "i",
      ).exec(c) ??
      /^remind me to\s+(.+)$/i.exec(c) ??
      new RegExp(`^add\\s+(.+?)\\s+to\\s+(?:my |the )?${TODO}(?: list)?$`, "i").exec(c);
    if (!m) return undefined;
    const title = unquote(m[1]!);
    return title ? [{ tool: "TodoStore.add", input: { title }, reasoning: `"${c}" adds a todo.` }] : undefined;
  },
  // list / show me all my todos, show open tasks, what are my tasks
  (c) => {
    const m = new RegExp(
      `^(?:list|show|display|get|give|see|view|what are|print)\\s+(?:me\\s+)?(?:all\\s+)?(?:of\\s+)?(?:my\\s+|the\\s+)?(?:(open|pending|done|completed|finished|all)\\s+)?${TODO}(?:\\s+list)?(?:\\s+(?:that are\\s+)?(open|pending|done|completed|finished))?$`,
      "i",
    ).exec(c);
    if (!m) return undefined;
    const word = (m[1] ?? m[2] ?? "all").toLowerCase();
    const status = word === "all" ? "all" : ["open", "pending"].includes(word) ? "open" : "done";
    return [{ tool: "TodoStore.list", input: { status }, reasoning: `"${c}" lists ${status === "all" ? "all" : status} todos.` }];
  },
  // get todo 3
  (c) => {
    const m = new RegExp(`^(?:get|show|fetch|find)\\s+(?:me\\s+)?(?:the\\s+)?${TODO}\\s*(?:#|number\\s+|no\\.?\\s*)?(\\d+)$`, "i").exec(c);
    return m ? [{ tool: "TodoStore.get", input: { id: Number(m[1]) }, reasoning: `"${c}" reads one todo.` }] : undefined;
  },
  // complete todo 3 / mark "buy milk" as done / delete todo "x"
  (c, ctx) => {
    const complete =
      new RegExp(`^(?:complete|finish|close|check off|tick off|mark(?: as)? done|mark(?: as)? complete)\\s+(?:the\\s+)?(?:${TODO}\\s*)?(.+)$`, "i").exec(c) ??
      new RegExp(`^mark\\s+(?:the\\s+)?(?:${TODO}\\s*)?(.+?)\\s+(?:as\\s+)?(?:done|complete|completed|finished)$`, "i").exec(c);
    const del = complete
      ? null
      : (new RegExp(`^(?:delete|remove|drop)\\s+(?:the\\s+)?(?:${TODO}\\s*)(.+)$`, "i").exec(c) ?? /^(?:delete|remove|drop)\s+(it|that|the result)$/i.exec(c));
    const m = complete ?? del;
    if (!m) return undefined;
    const tool = complete ? "TodoStore.complete" : "TodoStore.delete";
    const target = m[1]!.replace(/^(?:#|number\s+|no\.?\s*)/i, "").trim();
    let input: Record<string, unknown>;
    if (/^\d+$/.test(target)) input = { id: Number(target) };
    else if (RESULT.test(target)) {
      const ref = ctx.ref(".todo.id");
      if (!ref) return undefined;
      input = { id: ref };
    } else input = { title: unquote(target) };
    return [{ tool, input, reasoning: `"${c}" ${complete ? "completes" : "deletes"} a todo.` }];
  },
  // fetch https://example.com/x
  (c) => {
    const m = /^(?:fetch|get|download|call|request|load|read|open)\s+(?:the\s+)?(?:url\s+|page\s+|json\s+(?:from|at)\s+)?<?(https?:\/\/[^\s>]+)>?$/i.exec(c);
    return m ? [{ tool: "Http.get", input: { url: m[1]! }, reasoning: `"${c}" fetches a URL.` }] : undefined;
  },
  // calculate / compute / evaluate / what is <expr>
  (c, ctx) => {
    const m = /^(?:calculate|compute|evaluate|solve|work out|what(?:'s| is))\s+(.+?)\s*\??$/i.exec(c);
    const expression = m ? toExpression(m[1]!, ctx) : undefined;
    return expression ? calc(expression, `"${c}" is arithmetic.`) : undefined;
  },
  // multiply 6 by 7, divide 10 by 4, subtract 3 from 10, add 2 to 5
  (c, ctx) => {
    const m = /^(multiply|divide|subtract|add)\s+(.+?)\s+(by|from|to)\s+(.+?)$/i.exec(c);
    if (!m) return undefined;
    const [verb, a, prep, b] = [m[1]!.toLowerCase(), operand(m[2]!, ctx), m[3]!.toLowerCase(), operand(m[4]!, ctx)];
    if (a === undefined || b === undefined) return undefined;
    const expr =
      verb === "multiply" && prep === "by"
        ? `${a} * ${b}`
        : verb === "divide" && prep === "by"
          ? `${a} / ${b}`
          : verb === "subtract" && prep === "from"
            ? `${b} - ${a}`
            : verb === "add" && prep === "to"
              ? `${b} + ${a}`
              : undefined;
    return expr ? calc(expr, `"${c}" is arithmetic.`) : undefined;
  },
  // 5 plus 3, the result times 2
  (c, ctx) => {
    if (!/\b(?:plus|minus|times|multiplied by|divided by|mod(?:ulo)?|to the power of)\b/i.test(c)) return undefined;
    const expression = toExpression(c, ctx);
    return expression ? calc(expression, `"${c}" is arithmetic.`) : undefined;
  },
];

const FILLER = /^(?:(?:please|also|first|firstly|next|finally|and|can you|could you|i want you to|i'd like you to)\b[\s,]*)+/i;

export function parseClause(raw: string, ctx: ClauseContext): ClauseStep[] | undefined {
  const clause = raw
    .replace(FILLER, "")
    .replace(/[\s.!]+$/, "")
    .trim();
  if (!clause) return undefined;
  for (const parse of parsers) {
    const steps = parse(clause, ctx);
    if (steps?.length) return steps;
  }
  return undefined;
}
