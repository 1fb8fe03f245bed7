// Completing, deleting and reading one todo, named by id ("todo 3"), by title ("buy milk",
// "\"pay rent\""), by what this prompt did to it ("it", "the todo I just added") or by position
// ("the first one", "the last todo", "the second open task"). A position is a place in a list: the
// latest list this prompt made ("show me my tasks and delete the last one"), or else a list planned
// just for it, so the action takes a real id through a reference ({{steps.N.output.todos.0.id}}).
// Anything that cannot name one todo is refused with a phrasing that can.
import { because, ref, refuse, type ClauseContext, type ClauseResult, type Draft, type Refuse } from "./context";
import { MANY_TODOS, ONE_TODO, cleanTitle } from "./todo-titles";
import { statusOf } from "./todos";

type Action = "TodoStore.complete" | "TodoStore.delete" | "TodoStore.get";

const VERB: Record<Action, string> = { "TodoStore.complete": "complete", "TodoStore.delete": "delete", "TodoStore.get": "show" };

const ORDINALS: Readonly<Record<string, number>> = {
  first: 0,
  second: 1,
  third: 2,
  fourth: 3,
  fifth: 4,
  sixth: 5,
  seventh: 6,
  eighth: 7,
  ninth: 8,
  tenth: 9,
  top: 0,
  last: -1,
  final: -1,
  bottom: -1,
  "second to last": -2,
  "second-to-last": -2,
  "second last": -2,
  "next to last": -2,
  "next-to-last": -2,
  penultimate: -2,
  oldest: 0,
  earliest: 0,
};
const ORDINAL = String.raw`(?:second[- ]to[- ]last|next[- ]to[- ]last|second last|[1-9]\d*(?:st|nd|rd|th)|${Object.keys(ORDINALS)
  .filter((k) => !k.includes(" ") && !k.includes("-"))
  .join("|")})`;
const RECENT = String.raw`(?:latest|newest|most recent|most recently added|last added|recent)`;
const STATUS = String.raw`(?:open|pending|incomplete|unfinished|outstanding|remaining|done|completed|finished|closed)`;
const ON_LIST = String.raw`(?:\s+(?:on|in|from|of)\s+(?:the|my|our)\s+(?:${MANY_TODOS}|(?:todo\s+|task\s+)?list))?`;
const ADDED = String.raw`(?:(?:that\s+|which\s+)?(?:i|we|you)\s+(?:just\s+)?(?:added|created|made|wrote|put\s+on)|(?:just\s+)?(?:added|created))`;

const MAX_ID = Number.MAX_SAFE_INTEGER;

function index(word: string): number {
  const w = word.toLowerCase().replace(/\s+/g, " ");
  const numeric = /^(\d+)(?:st|nd|rd|th)$/.exec(w);
  return numeric ? Number(numeric[1]) - 1 : ORDINALS[w]!;
}

const hint = (action: Action) => {
  const verb = VERB[action];
  return `Name one todo: by id ("${verb} todo 3"), by title ("${verb} todo 'buy milk'"), or by position ("${verb} the first todo", "${verb} the last one").`;
};

interface Target {
  input: Record<string, unknown>;
  /** Steps to plan before the action (a list whose positions it refers to). */
  before: Draft[];
}

/** A position in a list: the latest list this prompt made, else a fresh one planned for it. */
function positional(at: number, status: string | undefined, action: Action, ctx: ClauseContext, clause: string): Target | Refuse {
  const latest = ctx.list();
  if (latest && (status === undefined || latest.input.status === status)) {
    if (action === "TodoStore.complete" && latest.input.status === "done") {
      return refuse(`the list it points into holds todos that are done already, and those cannot be completed again. ${hint(action)}`);
    }
    const id = ref(latest.step_number, ["todos", at, "id"]);
    // The same position acted on already (deleted, or completed twice) would fail: list again.
    if (!ctx.actedOn(id, action === "TodoStore.get" ? "TodoStore.delete" : action)) return { input: { id }, before: [] };
  }
  // Completing looks among open todos, where completing can succeed; the rest among all of them.
  const fresh = status ?? (action === "TodoStore.complete" ? "open" : "all");
  const list: Draft = {
    tool: "TodoStore.list",
    input: { status: fresh },
    reasoning: because(ctx, clause, `lists ${fresh === "all" ? "all" : fresh} todos to find the one it means by position.`),
    after: ctx.writes(),
  };
  return { input: { id: ref(ctx.next, ["todos", at, "id"]) }, before: [list] };
}

const FROM_LIST = new RegExp(`\\s+(?:from|off)\\s+(?:my|the|our)\\s+(?:${MANY_TODOS}|(?:todo\\s+|task\\s+)?list)$`, "i");
const BY_ID = new RegExp(`^(?:${ONE_TODO}\\s*)?(?:#|number\\s+|no\\.?\\s*|id\\s+)?(\\d+)$`, "i");
const BY_NAME = new RegExp(`^(?:${ONE_TODO}\\s+)?(?:(?:called|named|titled)\\s+|:\\s*)?(.+)$`, "i");
const PRONOUN = new RegExp(`^(?:it|that|this|that one|this one|result|(?:same\\s+|new\\s+)?(?:${ONE_TODO}|one))$`, "i");
const JUST_ADDED = new RegExp(
  `^(?:(?:${RECENT}|last)\\s+(?:${ONE_TODO}|one)\\s+${ADDED}|(?:${ONE_TODO}|one)\\s+${ADDED}|${RECENT}(?:\\s+(?:${ONE_TODO}|one))?(?:\\s+${ADDED})?)$`,
  "i",
);
const POSITION = new RegExp(`^(?:very\\s+)?(${ORDINAL})(?:\\s+(${STATUS}))?(?:\\s+(?:${ONE_TODO}|one))?${ON_LIST}$`, "i");
const SEVERAL = new RegExp(`^(?:all|every|each|both|everything)\\b|^(?:them|those|these|ones)$|\\b(?:all|both)\\s+(?:of\\s+)?(?:them|${MANY_TODOS})\\b`, "i");
const VAGUE = new RegExp(`^(?:${ORDINAL}|${RECENT}|one|ones)(?:\\s+(?:\\d+|few|couple|two|three|ones|${MANY_TODOS}|${ONE_TODO}|one)\\b.*)?$`, "i");

/** The todo `text` names, or a refusal; undefined when it names none at all. */
function target(text: string, action: Action, ctx: ClauseContext, clause: string): Target | Refuse | undefined {
  const t = text
    .replace(FROM_LIST, "")
    .replace(/^(?:the|my|our)\s+/i, "")
    .trim();
  const id = BY_ID.exec(t);
  if (id) {
    const n = Number(id[1]);
    return n >= 1 && n <= MAX_ID ? { input: { id: n }, before: [] } : refuse(`todo ids are whole numbers from 1 up. ${hint(action)}`);
  }
  const named = BY_NAME.exec(t)!;
  const quoted = ctx.quoted(named[1]!);
  if (quoted !== undefined) return { input: { title: quoted }, before: [] };

  if (PRONOUN.test(t)) {
    const todo = ctx.todoId();
    if (todo === "deleted") return refuse(`the todo it means is deleted earlier in this prompt. ${hint(action)}`);
    return todo ? { input: { id: todo }, before: [] } : refuse(`no todo comes before it in this prompt for "it" to mean. ${hint(action)}`);
  }
  // "the todo I just added", "the newest one": this prompt's latest new todo, else the newest there is.
  if (JUST_ADDED.test(t)) {
    const added = ctx.addedId();
    return added ? { input: { id: added }, before: [] } : positional(-1, undefined, action, ctx, clause);
  }
  const position = POSITION.exec(t);
  if (position) {
    const status = position[2] ? statusOf(position[2]) : undefined;
    if (status === "done" && action === "TodoStore.complete") return refuse(`a todo that is done already cannot be completed again. ${hint(action)}`);
    return positional(index(position[1]!), status, action, ctx, clause);
  }

  // Several todos, or a position this planner cannot pick: say what works instead of guessing.
  if (SEVERAL.test(t)) return refuse(`each step ${VERB[action]}s one todo. Name each one, e.g. "${VERB[action]} todo 3 and ${VERB[action]} todo 4".`);
  if (VAGUE.test(t)) return refuse(`the planner cannot tell which todo that is. ${hint(action)}`);
  if (action === "TodoStore.get") return undefined;
  const title = cleanTitle(named[1]!, ctx);
  return title.trim() ? { input: { title }, before: [] } : undefined;
}

const COMPLETE = [
  /^(?:complete|finish|close|check off|tick off|cross off|mark off|resolve)\s+(.+)$/i,
  /^mark\s+(.+?)\s+(?:as\s+)?(?:done|complete|completed|finished|closed)$/i,
  /^mark\s+(?:as\s+)?(?:done|complete|completed|finished)\s+(.+)$/i,
  /^(?:set|flag)\s+(.+?)\s+(?:to|as)\s+(?:done|complete|completed|finished)$/i,
  /^(?:check|tick|cross)\s+(.+?)\s+off(?:\s+(?:my|the)\s+list)?$/i,
];
const DELETE = [/^(?:delete|remove|drop|erase|trash|discard|get rid of|scrap)\s+(.+)$/i];
const GET = [/^(?:get|show|fetch|find|open|read|view|display|look up|what(?:['’]s|\s+is)|whats)\s+(?:me\s+)?(.+)$/i];

const DOES: Record<Action, string> = { "TodoStore.complete": "completes", "TodoStore.delete": "deletes", "TodoStore.get": "reads" };

function act(action: Action, forms: RegExp[]) {
  return (clause: string, ctx: ClauseContext): ClauseResult => {
    const m = forms.map((f) => f.exec(clause)).find(Boolean);
    if (!m) return undefined;
    const found = target(m[1]!, action, ctx, clause);
    // "show …" and "what is …" are often about something else ("what is one plus one"): reading a
    // todo never refuses, it lets the other parsers try.
    if (!found || ("refuse" in found && action === "TodoStore.get")) return undefined;
    if ("refuse" in found) return found;
    return [...found.before, { tool: action, input: found.input, reasoning: because(ctx, clause, `${DOES[action]} a todo.`) }];
  };
}

export const completeTodo = act("TodoStore.complete", COMPLETE);
export const deleteTodo = act("TodoStore.delete", DELETE);
export const getTodo = act("TodoStore.get", GET);
