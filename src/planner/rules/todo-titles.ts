// Todo titles as the user meant them. The words a verb takes before its title ("to", "for",
// "called", "that says", ":") belong to the command, not the title, and every title of a list is
// cleaned the same way: "add tasks to buy groceries and to pay bills" is "buy groceries" and "pay
// bills". A quoted title is kept exactly as typed.
import type { ClauseContext } from "./context";

export const ONE_TODO = String.raw`(?:todo|task|to-do|to do|reminder|item)`;
export const MANY_TODOS = String.raw`(?:todos|tasks|to-dos|to dos|reminders|items)`;

/** What may stand between "add a todo" and its title. */
export const TITLE_PARTICLE = String.raw`(?:(?:to|for|about|called|named|titled|entitled|saying|reading|that says|that reads|which says|with (?:the )?(?:titles?|texts?|names?))\b|[:\-–—])`;

/** How a list of titles is separated once the verb is gone. */
const TITLE_SEPARATOR = /\s*[,;]\s*(?:and\s+)?|\s+and\s+/i;

/** The particle an item of a list may repeat: "to buy milk and to call mom". */
const ITEM_PARTICLE = /^(?:(?:and|to|for)\s+|[:\-–—]\s*)+/i;

/** A title as typed: the quoted text when it is all quoted, else the words minus trailing punctuation. */
export function cleanTitle(text: string, ctx: ClauseContext): string {
  const quoted = ctx.quoted(text);
  if (quoted !== undefined) return quoted;
  return ctx
    .typed(text)
    .trim()
    .replace(/[\s.,;:!?]+$/u, "");
}

/** The titles of "a, b and c", each cleaned alike; empty ones dropped. */
export function splitTitles(text: string, ctx: ClauseContext): string[] {
  return text
    .split(TITLE_SEPARATOR)
    .map((item) => cleanTitle(ctx.quoted(item) === undefined ? item.trim().replace(ITEM_PARTICLE, "") : item, ctx))
    .filter((t) => t.trim().length > 0);
}
