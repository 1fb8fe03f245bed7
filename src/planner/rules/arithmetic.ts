// Clauses that are arithmetic: "calculate (41*7)+13", "5 plus 3", "multiply 6 by 7", "multiply
// 10 * 2", "add 5 and 3", "the sum of 1, 2 and 3", and follow-ups that apply an operation to the
// previous result ("then subtract 15", "then multiply by 2", "then double it"). A clause that would
// be arithmetic if there were a result before it is refused with a sentence saying so.
import { isWholeReference } from "../references";
import { because, refuse, type ClauseContext, type ClauseResult, type Draft } from "./context";
import { LIST_SEPARATOR, RESULT_WORDS, grouped, hasOperator, operand, toExpression } from "./expression";

type Arithmetic = (clause: string, ctx: ClauseContext) => string | undefined;

const ASK =
  /^(?:calculate|compute|evaluate|eval|calc|solve|work out|figure out|determine|tell me|give me|find|whats|what(?:['’]s|\s+is|\s+are|\s+does|\s+do|\s+would be)|how much (?:is|are|does|do))\s+(.+?)(?:\s+(?:equal|equals|make|makes|come to|give|be))?$/i;

/** "calculate <expr>", "what is <expr>". */
const asked: Arithmetic = (c, ctx) => {
  const m = ASK.exec(c);
  return m ? (spelled(m[1]!, ctx) ?? toExpression(m[1]!, ctx)) : undefined;
};

/** "multiply 6 by 7", "subtract 3 from 10", "add 2 to 5", "divide 4 into 10", "take 3 away from 10", "take away 3 from 10". */
const twoOperands: Arithmetic = (c, ctx) => {
  const m = /^(multiply|divide|subtract|deduct|add|take away|take)\s+(.+?)\s+(by|from|to|into|away from|off)\s+(.+)$/i.exec(c);
  if (!m) return undefined;
  const [verb, prep] = [m[1]!.toLowerCase(), m[3]!.toLowerCase()];
  const [a, b] = [operand(m[2]!, ctx), operand(m[4]!, ctx)];
  if (a === undefined || b === undefined) return undefined;
  if (verb === "multiply" && prep === "by") return `${a} * ${b}`;
  if (verb === "divide" && prep === "by") return `${a} / ${b}`;
  if (verb === "divide" && prep === "into") return `${b} / ${a}`;
  if (["subtract", "deduct", "take", "take away"].includes(verb) && ["from", "away from", "off"].includes(prep)) return `${b} - ${a}`;
  if (verb === "add" && prep === "to") return `${b} + ${a}`;
  return undefined;
};

const LIST_SPLIT = new RegExp(LIST_SEPARATOR, "i");

/** "add 5 and 3", "add up 1, 2 and 3", "multiply 3 and 4", "sum 4 and 5". */
const listed: Arithmetic = (c, ctx) => {
  const m = /^(add|sum|total|multiply)(?:\s+(?:up|together))?\s+(.+)$/i.exec(c);
  if (!m) return undefined;
  const parts = m[2]!.split(LIST_SPLIT);
  if (parts.length < 2) return undefined;
  const operands = parts.map((p) => operand(p, ctx));
  if (operands.some((o) => o === undefined)) return undefined;
  return operands.join(m[1]!.toLowerCase() === "multiply" ? " * " : " + ");
};

/** "multiply 10 * 2", "subtract 15 - 8": the verb names what the expression already says. */
const verbAndExpression: Arithmetic = (c, ctx) => {
  const m = /^(?:add|sum|subtract|multiply|divide)\s+(.+)$/i.exec(c);
  const e = m ? toExpression(m[1]!, ctx) : undefined;
  return e !== undefined && hasOperator(e) ? e : undefined;
};

const FOLLOW_UP_OPERATORS: Readonly<Record<string, string>> = {
  add: "+",
  plus: "+",
  increase: "+",
  subtract: "-",
  minus: "-",
  "take away": "-",
  deduct: "-",
  decrease: "-",
  reduce: "-",
  lower: "-",
  multiply: "*",
  times: "*",
  "multiplied by": "*",
  divide: "/",
  "divided by": "/",
};

const FOLLOW_UP = new RegExp(
  // "subtract it by 15" before "subtract 15": a regex alternation does not come back to try another.
  `^((?:multiply|divide|increase|decrease|reduce|lower|subtract|minus|deduct)(?:\\s+${RESULT_WORDS})?\\s+by|add|plus|subtract|minus|take away|deduct|times|multiplied by|divided by)\\s+(.+)$`,
  "i",
);
const MENTIONS_RESULT = new RegExp(`\\b${RESULT_WORDS}\\b`, "i");

/**
 * "then add 3", "then subtract 15", "then multiply by 2", "then increase it by 5", "then subtract it
 * by 15" (the original project's own wording, read as "decrease it by 15"): the previous result is
 * the left operand.
 */
const followUp: Arithmetic = (c, ctx) => {
  const m = FOLLOW_UP.exec(c);
  const result = ctx.result();
  if (!m || !result || MENTIONS_RESULT.test(m[2]!)) return undefined;
  const verb = m[1]!
    .toLowerCase()
    .replace(/\s+by$/, "")
    .split(/\s+/)[0]!;
  const op = FOLLOW_UP_OPERATORS[m[1]!.toLowerCase()] ?? FOLLOW_UP_OPERATORS[verb];
  const b = operand(m[2]!, ctx);
  return op && b !== undefined ? `${result} ${op} ${b}` : undefined;
};

const UNARY: Readonly<Record<string, (x: string) => string>> = {
  square: (x) => `${x} ** 2`,
  cube: (x) => `${x} ** 3`,
  double: (x) => `${x} * 2`,
  triple: (x) => `${x} * 3`,
  quadruple: (x) => `${x} * 4`,
  halve: (x) => `${x} / 2`,
  negate: (x) => `-(${x})`,
};

/** "square it", "double that", "halve the result", "square 5", "take the square root of it", "raise it to the power of 3". */
const unary: Arithmetic = (c, ctx) => {
  const root = /^(?:(?:take|find|get)\s+)?(?:the\s+)?square\s+root(?:\s+of)?(?:\s+(.+))?$/i.exec(c);
  if (root) {
    const x = operand(root[1] ?? "it", ctx);
    return x && `${x} ** 0.5`;
  }
  const raise = /^raise\s+(.+?)\s+to\s+(?:the\s+power\s+of\s+)?(.+)$/i.exec(c) ?? /^(?:raise\s+)?()to\s+the\s+power\s+of\s+(.+)$/i.exec(c);
  if (raise) {
    const [x, y] = [operand(raise[1] || "it", ctx), operand(raise[2]!, ctx)];
    return x && y && `${x} ** ${y}`;
  }
  const m = /^(square|cube|double|triple|quadruple|halve|negate)(?:\s+(.+))?$/i.exec(c);
  const x = m ? operand(m[2] ?? "it", ctx) : undefined;
  return m && x ? UNARY[m[1]!.toLowerCase()]!(grouped(x)) : undefined;
};

/** A clause that is an expression by itself: "5 plus 3", "2 * 21", "the sum of 4 and 5", "5 squared". */
const bare: Arithmetic = (c, ctx) => {
  const e = toExpression(c, ctx);
  return e !== undefined && (hasOperator(e) || e.includes("**")) ? e : undefined;
};

/** The forms a "calculate …" or "what is …" may wrap, besides a plain expression. */
function spelled(text: string, ctx: ClauseContext): string | undefined {
  for (const form of [twoOperands, listed, verbAndExpression, unary]) {
    const e = form(text, ctx);
    if (e !== undefined) return e;
  }
  return undefined;
}

const POWER_BASE = /(\{\{[^}]+\}\})(?=\s*\*\*)/g;

const FORMS: Arithmetic[] = [asked, twoOperands, listed, verbAndExpression, followUp, unary, bare];

export function arithmetic(clause: string, ctx: ClauseContext): ClauseResult {
  const found = firstOf(clause, ctx);
  if (found !== undefined) {
    // A lone reference would hand the calculator a number, not text: inside parentheses it is
    // interpolated as text instead. A reference raised to a power is bracketed too, or a negative
    // result would read "-5 ** 2", which is -(5 ** 2).
    const expression = isWholeReference(found) ? `(${found})` : found.replace(POWER_BASE, "($1)");
    const draft: Draft = { tool: "Calculator.evaluate", input: { expression }, reasoning: because(ctx, clause, "is arithmetic.") };
    return [draft];
  }
  // Arithmetic in every way but one: there is no result before it to work on.
  if (!ctx.result() && firstOf(clause, ctx.withResult()) !== undefined) {
    return refuse(
      'it works on a previous result, and no step before it computes one. Start with a calculation, e.g. "calculate 10 + 5, then multiply by 2", or give both numbers: "multiply 15 by 2".',
    );
  }
  return undefined;
}

function firstOf(clause: string, ctx: ClauseContext): string | undefined {
  for (const form of FORMS) {
    const e = form(clause, ctx);
    if (e !== undefined) return e;
  }
  return undefined;
}
