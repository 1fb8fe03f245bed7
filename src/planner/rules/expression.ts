// Arithmetic written in words becomes an expression the calculator reads: "5 plus the result" →
// "5 + {{steps.1.output}}", "the sum of 1, 2 and 3" → "1 + 2 + 3", "15% of 80" → "15 / 100 * 80".
// Anything that still holds a word afterwards is not arithmetic.
import { CalculationError, evaluateExpression } from "../../tools/calculator/parser";
import type { ClauseContext } from "./context";

const NUMBER = String.raw`(?<![\d.])-?\d+(?:\.\d+)?(?:e[+-]?\d+)?`;
const REFERENCE = String.raw`\{\{steps\.\d+\.output(?:\.[A-Za-z0-9_-]+)*\}\}`;
const GROUP = String.raw`\([^()]*\)`;
export const OPERAND = `(?:${NUMBER}|${REFERENCE}|${GROUP})`;
export const LIST_SEPARATOR = String.raw`(?:\s*,\s*(?:and\s+)?|\s+and\s+)`;
const LIST = `${OPERAND}(?:${LIST_SEPARATOR}${OPERAND})+`;

/**
 * Words that stand for the previous result: "it", "the result", "the answer", "that result", "the
 * final number". "The number of todos" is a count, not a result.
 */
export const RESULT_WORDS = String.raw`(?:(?:the|that|this)\s+(?:(?:previous|last|above|final|latest|new|resulting)\s+)?(?:result|answer|value|output|number(?!\s+of\b))|it|that|this)`;

const NUMBER_WORDS: Readonly<Record<string, number>> = {
  zero: 0,
  one: 1,
  two: 2,
  three: 3,
  four: 4,
  five: 5,
  six: 6,
  seven: 7,
  eight: 8,
  nine: 9,
  ten: 10,
  eleven: 11,
  twelve: 12,
  thirteen: 13,
  fourteen: 14,
  fifteen: 15,
  sixteen: 16,
  seventeen: 17,
  eighteen: 18,
  nineteen: 19,
  twenty: 20,
  thirty: 30,
  forty: 40,
  fifty: 50,
  sixty: 60,
  seventy: 70,
  eighty: 80,
  ninety: 90,
  hundred: 100,
};
/** A number written as a word ("five"), or undefined. */
export const numberWord = (w: string): number | undefined => (Object.hasOwn(NUMBER_WORDS, w.toLowerCase()) ? NUMBER_WORDS[w.toLowerCase()] : undefined);

const NUMBER_WORD = new RegExp(`\\b(?:${Object.keys(NUMBER_WORDS).join("|")})\\b`, "gi");

const OPERATOR_WORDS: [RegExp, string][] = [
  [/\bto the power of\b/gi, "**"],
  [/\braised to(?: the power(?: of)?)?\b/gi, "**"],
  [/\bmultiplied by\b/gi, "*"],
  [/\bdivided by\b/gi, "/"],
  [/\bplus\b/gi, "+"],
  [/\bminus\b/gi, "-"],
  [/\btimes\b/gi, "*"],
  [/\bmod(?:ulo)?\b/gi, "%"],
  [/[×x](?=\s*[\d(.{])/g, "*"],
  [/÷/g, "/"],
  [/\^/g, "**"],
  [/[−–]/g, "-"],
];

const LIST_SPLIT = new RegExp(LIST_SEPARATOR, "i");
const items = (list: string) => list.split(LIST_SPLIT).map((s) => s.trim());

// Each phrase becomes its expression, in parentheses unless it is the whole text.
const PHRASES: [RegExp, (...g: string[]) => string][] = [
  [new RegExp(`(?:the\\s+)?(?:sum|total)\\s+of\\s+(${LIST})`, "gi"), (l) => items(l!).join(" + ")],
  [new RegExp(`(?:the\\s+)?product\\s+of\\s+(${LIST})`, "gi"), (l) => items(l!).join(" * ")],
  [new RegExp(`(?:the\\s+)?(?:average|mean)\\s+of\\s+(${LIST})`, "gi"), (l) => `(${items(l!).join(" + ")}) / ${items(l!).length}`],
  [new RegExp(`(?:the\\s+)?difference\\s+(?:between|of)\\s+(${OPERAND})\\s+and\\s+(${OPERAND})`, "gi"), (a, b) => `${a} - ${b}`],
  [new RegExp(`(?:the\\s+)?(?:quotient|ratio)\\s+(?:between|of)\\s+(${OPERAND})\\s+(?:and|to)\\s+(${OPERAND})`, "gi"), (a, b) => `${a} / ${b}`],
  [new RegExp(`(?:the\\s+)?square\\s+root\\s+of\\s+(${OPERAND})`, "gi"), (a) => `${a} ** 0.5`],
  [new RegExp(`(?:the\\s+)?(square|cube)\\s+of\\s+(${OPERAND})`, "gi"), (w, a) => `${a} ** ${w!.toLowerCase() === "square" ? 2 : 3}`],
  [new RegExp(`(${OPERAND})\\s+(squared|cubed)\\b`, "gi"), (a, w) => `${a} ** ${w!.toLowerCase() === "squared" ? 2 : 3}`],
  [new RegExp(`(${OPERAND})\\s*(?:%|percent)\\s+of\\s+(${OPERAND})`, "gi"), (a, b) => `${a} / 100 * ${b}`],
  [new RegExp(`half\\s+of\\s+(${OPERAND})`, "gi"), (a) => `${a} / 2`],
  [new RegExp(`(?:double|twice)\\s+(${OPERAND})`, "gi"), (a) => `2 * ${a}`],
];

const ANY_REFERENCE = new RegExp(REFERENCE, "g");
const MAY_BE_NUMBER = new RegExp(`${NUMBER_WORD.source}|\\b${RESULT_WORDS}\\b`, "i");
const PHRASE_WORD = /sum|total|product|average|mean|difference|quotient|ratio|root|square|cube|%|percent|half|double|twice/i;
const RESULT_WORD = new RegExp(`\\b${RESULT_WORDS}\\b`, "gi");

/** True when `text` is numbers, references, operators and parentheses only. */
function isArithmetic(text: string): boolean {
  const plain = text.replace(ANY_REFERENCE, "1").replace(/(\d)e[+-]?(?=\d)/gi, "$1");
  return /\d/.test(plain) && /^[\d\s+\-*/%().]+$/.test(plain) && parses(text.replace(ANY_REFERENCE, "1"));
}

/**
 * Whether the calculator can read it at all: "5 --" or "2 + 3)" is no calculation, and planning one
 * would plan a step sure to fail. A value it cannot compute (1 / 0, a result too large) is the
 * calculator's to report; this asks only about the form.
 */
function parses(expression: string): boolean {
  try {
    evaluateExpression(expression);
    return true;
  } catch (error) {
    return !(error instanceof CalculationError && (error.code === "syntax_error" || error.code === "invalid_character" || error.code === "empty_expression"));
  }
}

/** An expression with an operator between two operands (not a lone, maybe negative, number). */
export const hasOperator = (expression: string) => /[\d)}]\s*(?:\*\*|[-+*/%])\s*[-\d({]/.test(expression);

/** Parentheses around an operand that is itself an expression, so an operator next to it binds right. */
export const grouped = (expression: string) => (hasOperator(expression) ? `(${expression})` : expression);

/** `text` as an expression, "the result" and its kin as a reference to it; undefined when words remain. */
export function toExpression(text: string, ctx: ClauseContext): string | undefined {
  // Most text that reaches here is not arithmetic at all; say so before any rewriting.
  if (!/\d/.test(text) && !MAY_BE_NUMBER.test(text)) return undefined;
  let e = text
    .trim()
    .replace(/[\s?.!=]+$/, "")
    .replace(/^(?:the\s+)?(?:result|value|answer)\s+of\s+/i, "");
  e = e.replace(NUMBER_WORD, (w) => String(NUMBER_WORDS[w.toLowerCase()]));
  // Thousands separators: "1,000 + 5".
  e = e.replace(/(\d),(?=\d{3}(?!\d))/g, "$1");
  let missing = false;
  e = e.replace(RESULT_WORD, () => {
    const r = ctx.result();
    if (!r) missing = true;
    return r ?? "";
  });
  if (missing) return undefined;
  if (/[^\d\s+\-*/%().{}]/.test(e)) for (const [re, op] of OPERATOR_WORDS) e = e.replace(re, op);
  for (let round = 0; round < 8 && PHRASE_WORD.test(e); round++) {
    const before = e;
    for (const [re, build] of PHRASES) {
      e = e.replace(re, (match: string, ...args: unknown[]) => {
        const whole = args.at(-1) as string;
        const built = build(...(args.slice(0, -2) as string[]));
        return match.length === whole.trim().length ? built : `(${built})`;
      });
    }
    if (e === before) break;
  }
  e = e.trim();
  return isArithmetic(e) ? e : undefined;
}

/** One operand: a number, a word for the result, or a small expression (in parentheses). */
export function operand(text: string, ctx: ClauseContext): string | undefined {
  const e = toExpression(text, ctx);
  return e === undefined ? undefined : grouped(e);
}
