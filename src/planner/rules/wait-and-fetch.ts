// Clauses for the two tools that are not about todos or numbers: "wait 5 seconds" (Wait.sleep,
// bounded as the tool is, so a wait it would refuse is refused here in the user's words) and
// "fetch https://…" (Http.get).
import { MAX_SLEEP_SECONDS } from "../../tools/wait-sleep";
import { because, refuse, type ClauseContext, type ClauseResult } from "./context";
import { numberWord } from "./expression";

const UNITS: [RegExp, number][] = [
  [/^(?:ms|msecs?|milliseconds?)$/i, 0.001],
  [/^(?:s|secs?|seconds?)$/i, 1],
  [/^(?:m|mins?|minutes?)$/i, 60],
  [/^(?:h|hrs?|hours?)$/i, 3600],
  [/^(?:d|days?)$/i, 86400],
];

/** "5", "1.5", "five", "a", "half a", "a couple of". */
function amount(text: string): number | undefined {
  const t = text.trim().toLowerCase();
  if (/^\d+(?:\.\d+)?$/.test(t)) return Number(t);
  if (/^(?:a|an|one)$/.test(t)) return 1;
  if (/^half\s+an?$/.test(t)) return 0.5;
  if (/^a\s+couple(?:\s+of)?$/.test(t)) return 2;
  return numberWord(t);
}

export function waitClause(clause: string, ctx: ClauseContext): ClauseResult {
  const m =
    /^(?:wait|sleep|pause|delay|hold on|hang on|hold)(?:\s+for)?(?:\s+about)?\s+(.+?)\s*(ms|msecs?|milliseconds?|s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?|d|days?)$/i.exec(
      clause,
    );
  const n = m ? amount(m[1]!) : undefined;
  if (!m || n === undefined) return undefined;
  const seconds = n * UNITS.find(([re]) => re.test(m[2]!))![1];
  if (!(seconds > 0) || seconds > MAX_SLEEP_SECONDS) {
    return refuse(`a wait is longer than 0 seconds and at most 7 days (${MAX_SLEEP_SECONDS} seconds), e.g. "wait 5 seconds" or "wait 2 hours".`);
  }
  return [{ tool: "Wait.sleep", input: { seconds }, reasoning: because(ctx, clause, "waits before what follows.") }];
}

/** As Http.get's input schema allows. */
const MAX_URL_LENGTH = 2048;

const FETCH =
  /^(?:(?:fetch|get|download|call|request|load|read|open|retrieve|grab|curl|hit|query|visit)\s+(?:the\s+)?(?:(?:url|page|website|site|api|endpoint|data|json|content|contents|html|response)\s+)?(?:(?:from|at|of|on)\s+)?|(?:make|send|do)\s+an?\s+(?:get\s+|http\s+)?request\s+(?:to|for)\s+)?<?(\S+?)>?$/i;

export function fetchClause(clause: string, ctx: ClauseContext): ClauseResult {
  const m = FETCH.exec(clause);
  const url = m && ctx.quoted(m[1]!);
  if (!url || !/^https?:\/\//i.test(url)) return undefined;
  if (url.length > MAX_URL_LENGTH) return refuse(`the URL is ${url.length} characters long; Http.get takes at most ${MAX_URL_LENGTH}.`);
  return [{ tool: "Http.get", input: { url }, reasoning: because(ctx, clause, "fetches a URL.") }];
}
