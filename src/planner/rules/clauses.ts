// Cutting a prompt into clauses. "then" and "after that" start a clause that waits for the clauses
// before it, and so do ";" and a sentence's end; "and" and "," start one that runs beside them.
// After anything but "then", a piece that is not a clause on its own ("milk" in "buy bread and
// milk", "Smith" in "call Dr. Smith", "b" in "add todos: a; b") is glued back onto the one before.
// Quoted text is a token by now (quotes.ts), so nothing inside quotes ever splits.

export interface Clause {
  text: string;
  /** It waits for every step of the group before it. */
  sequential: boolean;
}

const SEPARATORS = [
  String.raw`\s*(?:[,;.!?]\s*)?(?:\band\s+)?\b(?:then|after that|after this|afterwards)\b[,:]?\s*`,
  String.raw`\s*;\s*`,
  String.raw`[.!?]+\s+`,
  // A comma between digits is a thousands separator ("1,000"), not a separator of clauses.
  String.raw`\s*(?:(?<!\d),|,(?!\d))\s*(?:and\s+)?`,
  String.raw`\s+and\s+`,
];
// One capturing group, so split() keeps each separator between the pieces it separates.
const SEPARATOR = new RegExp(`(${SEPARATORS.map((s) => `(?:${s})`).join("|")})`, "i");

const ALWAYS_SPLITS = /then|after/i;
const WAITS = /then|after|;|[.!?]/i;

/**
 * "use the result and multiply by 2" says the next operation applies to the result, which a clause
 * without an operand already means; the lead-in goes, so what follows is one clause.
 */
const USE_RESULT = /\b(?:use|take|using|with)\s+(?:the\s+(?:previous\s+|last\s+)?result|it|that|this)\s*,?\s+(?:and|to)\s+/gi;

export function splitClauses(text: string, startsClause: (piece: string) => boolean): Clause[] {
  const parts = text.replace(USE_RESULT, "").split(SEPARATOR);
  const clauses: Clause[] = [{ text: parts[0] ?? "", sequential: false }];
  for (let i = 1; i < parts.length; i += 2) {
    const sep = parts[i]!;
    const piece = parts[i + 1] ?? "";
    if (ALWAYS_SPLITS.test(sep) || (piece.trim() && startsClause(piece))) clauses.push({ text: piece, sequential: WAITS.test(sep) });
    else clauses[clauses.length - 1]!.text += sep + piece;
  }
  return clauses.filter((c) => c.text.trim());
}
