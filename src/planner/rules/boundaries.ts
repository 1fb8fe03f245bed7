// Where a todo's title ends. A title is free text: "buy paint and finish the fence", "remove the old
// shelf; drop off the boxes", "'; DROP TABLE todos; --" are titles a person may type, and each holds
// a separator followed by words the planner also reads as a command ("finish the fence" completes a
// todo titled "the fence"). So after a clause that adds a todo from free text:
//
// - "then", "after that" and a sentence's end followed by a command are clear boundaries: what
//   follows is a clause of its own, whatever it does.
// - ",", ";" and "and" are ambiguous: the title may run on across them. What follows is split off
//   only when it plans nothing with a side effect but adding todos ("and list my todos", "and a
//   todo to call mom", "and wait 5 seconds", "but ask me first"). Otherwise the safe reading wins and
//   it stays in the title: a prompt that asks to add never plans a delete or a complete from a title.
//   A clause split off this way ends the title, and what follows it is read as after any clause.
// - A quoted title is no exception: `add todo 'x', delete todo 3` is one title, as the same prompt
//   without quotes is. One rule is easier to predict than two, and "then" or a new sentence says
//   "delete" for sure. A form that closes its own title ("add X as a todo", "put X on my list")
//   leaves nothing ambiguous: what follows it is a clause.
// - "add todo" with nothing after it but a separator takes what follows as its title.
//
// The rule reads separators and commands only, never the script the title is written in:
// `add todo: 买牛奶 🥛 and review` keeps "and review" in its title exactly as `add todo: buy milk and
// review` does. "review" on its own is not a command anyone could run, so splitting it off (as the
// original project did) would either drop words the user typed or refuse the whole prompt for a
// clause they never meant as one; and "and" inside a title is common in any language. The same
// prompt ending "and list my todos" splits in every script alike.
import { isApproval } from "./approvals";
import type { StartsClause } from "./clauses";
import type { ClauseContext, ClauseResult } from "./context";
import { parseClause } from "./parse-clause";

/** What a clause split off a title may plan: adding more todos, or nothing that changes anything. */
const HARMLESS = new Set(["TodoStore.add", "TodoStore.list", "TodoStore.get", "Calculator.evaluate", "Wait.sleep"]);

const SENTENCE_END = /^[.!?]+\s+$/;

const onlyAdds = (r: ClauseResult): boolean => Array.isArray(r) && r.length > 0 && r.every((d) => d.tool === "TodoStore.add");

/**
 * How the planner decides whether a piece starts a clause: `probe` stands for any plan so far, and
 * `afterTitle` for the plan a title leaves (one new todo), in which a piece that splits off a title
 * must be harmless: "double it" there works on no result, so "add todo x, double it" is one title.
 */
export function clauseStarts(probe: ClauseContext, afterTitle: ClauseContext): StartsClause {
  // The clause as the last piece glued onto a title left it. A title that runs on across many
  // joints is then judged by its first piece (`head`) and not parsed whole again at each joint,
  // which would cost quadratic time on a long prompt.
  let title: string | undefined;
  const runOn = (text: string) => {
    title = text;
    return false;
  };
  return (piece, joint, before, head) => {
    const alone = parseClause(piece, probe);
    if (alone === undefined) return before === title ? runOn(before + joint + piece) : false;
    if (SENTENCE_END.test(joint)) return true;
    // Does the piece read as more of a title? Only then is the joint ambiguous.
    if (before === title) {
      if (!onlyAdds(parseClause(head + joint + piece, probe))) return true;
    } else {
      if (!onlyAdds(parseClause(before + joint + piece, probe))) return true;
      const earlier = parseClause(before, probe);
      // "add todo; check off buy milk": without the piece the todo has no title at all, so it is the title.
      if (earlier === undefined) return runOn(before + joint + piece);
      if (!onlyAdds(earlier)) return true;
    }
    if (isApproval(piece)) return true;
    const next = parseClause(piece, afterTitle);
    return Array.isArray(next) && next.every((d) => HARMLESS.has(d.tool)) ? true : runOn(before + joint + piece);
  };
}
