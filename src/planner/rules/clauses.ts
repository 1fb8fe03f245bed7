// Cutting a prompt into clauses. "then" and "after that" start a clause that waits for the clauses
// before it, and so do ";" and a sentence's end; "and" and "," start one that runs beside them.
// After anything but "then", a piece that is not a clause on its own ("milk" in "buy bread and
// milk", "Smith" in "call Dr. Smith", "b" in "add todos: a; b") is glued back onto the one before.
// Quoted text is a token by now (quotes.ts), so nothing inside quotes ever splits.
import { RESULT_WORDS } from "./expression";

export interface Clause {
  text: string;
  /** It waits for every step of the group before it. */
  sequential: boolean;
}

/**
 * Where a word starts or ends, in every script: `\b` knows only ASCII letters, so it found "then"
 * inside "éthen" and "买牛奶then" but not inside "milkthen". A word is a run of letters, marks and
 * digits of any script, so one rule holds for all of them.
 */
export const WORD_START = String.raw`(?<![\p{L}\p{M}\p{N}_])`;
export const WORD_END = String.raw`(?![\p{L}\p{M}\p{N}_])`;

const SEPARATORS = [
  String.raw`\s*(?:[,;.!?]\s*)?(?:${WORD_START}and\s+)?${WORD_START}(?:then|after that|after this|afterwards)${WORD_END}[,:]?\s*`,
  String.raw`\s*;\s*`,
  String.raw`[.!?]+\s+`,
  // A comma between digits is a thousands separator ("1,000"), not a separator of clauses.
  String.raw`\s*(?:(?<!\d),|,(?!\d))\s*(?:and\s+)?`,
  String.raw`\s+and\s+`,
];
// One capturing group, so split() keeps each separator between the pieces it separates.
const SEPARATOR = new RegExp(`(${SEPARATORS.map((s) => `(?:${s})`).join("|")})`, "iu");

const ALWAYS_SPLITS = /then|after/i;
const WAITS = /then|after|;|[.!?]/i;

/**
 * "use the result and multiply by 2" says the next operation applies to the result, which a clause
 * without an operand already means; the lead-in goes, so what follows is one clause.
 */
const USE_RESULT = new RegExp(String.raw`${WORD_START}(?:use|take|using|with)\s+${RESULT_WORDS}\s*,?\s+(?:and|to)\s+`, "giu");

/** Whether `piece`, after the separator `joint`, starts a clause rather than continuing `before`. */
export type StartsClause = (piece: string, joint: string, before: string, head: string) => boolean;

export function splitClauses(text: string, startsClause: StartsClause): Clause[] {
  const parts = text.replace(USE_RESULT, "").split(SEPARATOR);
  const clauses: Clause[] = [{ text: parts[0] ?? "", sequential: false }];
  /** The piece the current clause began with. */
  let head = clauses[0]!.text;
  for (let i = 1; i < parts.length; i += 2) {
    const sep = parts[i]!;
    const piece = parts[i + 1] ?? "";
    if (ALWAYS_SPLITS.test(sep) || (piece.trim() && startsClause(piece, sep, clauses.at(-1)!.text, head))) {
      clauses.push({ text: piece, sequential: WAITS.test(sep) });
      head = piece;
    } else clauses[clauses.length - 1]!.text += sep + piece;
  }
  return clauses.filter((c) => c.text.trim());
}
