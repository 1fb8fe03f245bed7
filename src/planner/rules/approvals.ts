// "Ask me before …", "with my approval …", "wait for my approval then …": a Human.approve step
// before what follows. After cutting the prompt into clauses, a clause that asks for approval
// becomes two (the approval, then the rest), and the clause after an approval always waits for
// it, whatever joined them ("with my approval, delete todo 3" has only a comma). The approval's
// message names what it guards: the clauses after it, up to the next approval.
import type { Clause } from "./clauses";
import { because, excerpt, refuse, type ClauseContext, type ClauseResult } from "./context";

const WHAT = String.raw`(?:approval|permission|ok|okay|go-ahead|go ahead|confirmation|consent|sign-off|say-so)`;
/** An approval on its own: "wait for my approval", "ask me first", "get my ok". */
const ALONE = new RegExp(
  String.raw`^(?:(?:wait|hold|pause)(?:\s+(?:for|on|until))?|ask(?:\s+me)?\s+for|get|await|request|(?:only\s+)?with|after)\s+(?:(?:my|an?|your|the)\s+)?${WHAT}(?:\s+first)?$|^(?:ask|check\s+with|confirm\s+with)\s+me(?:\s+first)?$`,
  "i",
);
/** An approval before an action in the same clause: "ask me before deleting …", "with my approval, delete …". */
const BEFORE = new RegExp(
  String.raw`^(?:ask\s+me(?:\s+first)?\s+before|check\s+with\s+me\s+before|(?:only\s+)?(?:with|after|once\s+i\s+give\s+you)\s+my\s+${WHAT}|(?:wait\s+for|get)\s+my\s+${WHAT}\s+(?:and|to|before)|once\s+i\s+(?:approve|say\s+so|ok\s+it))[,:]?\s+(?:you\s+)?(.+)$`,
  "i",
);
/** An approval after the action it guards: "delete todo 3 with my approval", "…, but ask me first". */
const AFTER = new RegExp(
  String.raw`^(.+?)[,;]?\s+(?:(?:only\s+)?(?:with|after)\s+my\s+${WHAT}|(?:but\s+)?(?:ask|check\s+with)\s+me\s+first|once\s+i\s+(?:approve|say\s+so))$`,
  "i",
);

/** "deleting" → "delete", for the verbs the other recognisers know. */
const GERUNDS: Readonly<Record<string, string>> = {
  adding: "add",
  creating: "create",
  putting: "put",
  making: "make",
  deleting: "delete",
  removing: "remove",
  completing: "complete",
  finishing: "finish",
  marking: "mark",
  checking: "check",
  ticking: "tick",
  fetching: "fetch",
  getting: "get",
  calling: "call",
  downloading: "download",
  loading: "load",
  reading: "read",
  requesting: "request",
  listing: "list",
  showing: "show",
  calculating: "calculate",
  computing: "compute",
  waiting: "wait",
  sleeping: "sleep",
};

const imperative = (text: string) => text.replace(/^(\w+ing)\b/i, (word) => GERUNDS[word.toLowerCase()] ?? word);

const LEADING = /^(?:(?:please|also|first|next|finally|and|then|now|just|but)\b[\s,]*)+/i;
const clean = (text: string) => text.replace(LEADING, "").trim();

/** Whether a clause asks for approval and for nothing else. */
export const isApproval = (text: string) => ALONE.test(clean(text).replace(/[.,;:!?…\s]+$/, ""));

/**
 * The clauses with each request for approval as a clause of its own, and every clause after an
 * approval waiting for it.
 */
export function expandApprovals(clauses: readonly Clause[]): Clause[] {
  const out: Clause[] = [];
  const approval = (sequential: boolean) => out.push({ text: "wait for my approval", sequential });
  for (const [i, c] of clauses.entries()) {
    const previous = out.at(-1);
    // "…, but ask me first": an approval that ends a stretch of clauses and says it comes first
    // guards the clause before it.
    const endsStretch = i === clauses.length - 1 || clauses[i + 1]!.sequential;
    if (previous && !c.sequential && endsStretch && isApproval(c.text) && !isApproval(previous.text) && /^\s*but\b|\bfirst[\s.!?]*$/i.test(c.text)) {
      out.splice(out.length - 1, 1, { text: "wait for my approval", sequential: previous.sequential }, { ...previous, sequential: true });
      continue;
    }
    const afterApproval = out.length > 0 && isApproval(out.at(-1)!.text);
    const sequential = c.sequential || afterApproval;
    const text = clean(c.text).replace(/[.,;:!?…\s]+$/, "");
    const before = isApproval(text) ? undefined : BEFORE.exec(text);
    const after = before || isApproval(text) ? undefined : AFTER.exec(text);
    if (before) {
      approval(sequential);
      out.push({ text: imperative(before[1]!), sequential: true });
    } else if (after) {
      approval(sequential);
      out.push({ text: after[1]!, sequential: true });
    } else out.push({ ...c, sequential });
  }
  return out;
}

/** The recogniser: an approval clause plans one Human.approve step naming what follows it. */
export function approvalClause(clause: string, ctx: ClauseContext): ClauseResult {
  const text = clean(clause);
  if (!isApproval(text) && !BEFORE.test(text) && !AFTER.test(text)) return undefined;
  const guarded = ctx.following.trim();
  if (!guarded) return refuse('an approval guards what comes after it, and nothing does. Say what to do once approved: "ask me before deleting todo 3".');
  return [
    { tool: "Human.approve", input: { message: `Go ahead with "${excerpt(guarded, 300)}"?` }, reasoning: because(ctx, clause, "waits for your approval.") },
  ];
}

/** What an approval at clause `i` guards: the clauses after it up to the next approval, as typed. */
export function followingText(clauses: readonly Clause[], i: number, typed: (text: string) => string): string {
  const parts: string[] = [];
  for (const c of clauses.slice(i + 1)) {
    if (isApproval(c.text)) break;
    parts.push((parts.length ? (c.sequential ? ", then " : " and ") : "") + typed(clean(c.text)).replace(/[.,;:!?…\s]+$/, ""));
  }
  return parts.join("");
}
