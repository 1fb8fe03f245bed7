// One clause, through the recognisers in order: the first that knows the clause answers (drafts or
// a refusal). Todo phrasings come before arithmetic, so "add 2 to my list" adds a todo while "add
// 2 to 5" adds numbers; reading a todo ("what is todo 3") comes before "what is 6 * 7".
import { approvalClause } from "./approvals";
import { arithmetic } from "./arithmetic";
import type { ClauseContext, ClauseResult } from "./context";
import { completeTodo, deleteTodo, getTodo } from "./todo-targets";
import { TODO_PARSERS } from "./todos";
import { fetchClause, waitClause } from "./wait-and-fetch";

const PARSERS: ((clause: string, ctx: ClauseContext) => ClauseResult)[] = [
  approvalClause,
  waitClause,
  fetchClause,
  ...TODO_PARSERS,
  completeTodo,
  deleteTodo,
  getTodo,
  arithmetic,
];

/** Politeness and sequencing words around a command, which say nothing about what to run. */
const LEADING =
  /^(?:(?:please|pls|also|first|firstly|first of all|next|finally|lastly|and|then|now|just|kindly|ok|okay|so|hey|hi|can you|could you|would you|will you|i want you to|i'd like you to|i would like you to|i need you to|go ahead and|let's|lets|to start|to begin)\b[\s,]*)+/i;
const POLITE_END = /(?:^|[\s,])(?:please|pls|for me|thanks|thank you)$/i;

/**
 * Trailing punctuation, whichever mark it is ("calculate 10 + 5," reads as "calculate 10 + 5"),
 * and a trailing "please". By hand rather than one end-anchored regex, which would cost quadratic
 * time on a long run of commas.
 */
export function trimEnd(text: string): string {
  let t = text;
  for (;;) {
    let end = t.length;
    while (end > 0 && /[\s.,;:!?…]/.test(t[end - 1]!)) end--;
    t = t.slice(0, end);
    const polite = POLITE_END.exec(t);
    if (!polite) return t;
    t = t.slice(0, polite.index);
  }
}

export function parseClause(raw: string, ctx: ClauseContext): ClauseResult {
  const clause = trimEnd(raw.replace(LEADING, "")).trim();
  if (!clause) return undefined;
  for (const parse of PARSERS) {
    const result = parse(clause, ctx);
    if (result && (!Array.isArray(result) || result.length)) return result;
  }
  return undefined;
}
