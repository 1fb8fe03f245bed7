// What a clause parser may ask about the plan so far: which step computed the latest value ("the
// result"), which one last touched a single todo ("it"), which one listed todos ("the first one").
// A parser answers with drafts (steps without numbers or dependencies: the planner derives those
// from the references the drafts make), a refusal that says what to write instead, or nothing.
import { RESULT_PATH } from "../tool-outputs";
import { quotedOnly, restore, type Span } from "./quotes";

export interface Draft {
  tool: string;
  input: Record<string, unknown>;
  reasoning: string;
  /** Steps it must follow although it uses none of their outputs. */
  after?: number[];
  /** Follows the draft before it in the same clause: todos added from one list keep the order they were typed in. */
  ordered?: boolean;
}

/** Why a clause the planner recognised cannot be planned, and what to write instead. */
export interface Refuse {
  refuse: string;
}

export type ClauseResult = Draft[] | Refuse | undefined;

export const refuse = (message: string): Refuse => ({ refuse: message });

export interface PlannedStep {
  step_number: number;
  tool: string;
  input: Record<string, unknown>;
}

export const ref = (step: number, path: readonly (string | number)[] = []) => `{{steps.${step}.output${path.map((k) => `.${k}`).join("")}}}`;

/** Todo tools whose output is one todo as `{ todo }`. */
const ONE_TODO = new Set(["TodoStore.add", "TodoStore.get", "TodoStore.complete"]);
const TODO_WRITES = new Set(["TodoStore.add", "TodoStore.complete", "TodoStore.delete"]);

export class ClauseContext {
  constructor(
    private readonly steps: readonly PlannedStep[],
    readonly spans: readonly Span[],
    /** The prompt after this clause, as typed, for a clause that guards what follows it (an approval). */
    readonly following = "",
  ) {}

  /** The number the clause's first new step will get. */
  get next(): number {
    return this.steps.length + 1;
  }

  private latest(test: (s: PlannedStep) => boolean): PlannedStep | undefined {
    return this.steps.findLast(test);
  }

  /** "The result": the latest step that computes a value (a calculation or a fetch), as a reference. */
  result(): string | undefined {
    const s = this.latest((x) => Object.hasOwn(RESULT_PATH, x.tool));
    return s && ref(s.step_number, RESULT_PATH[s.tool]);
  }

  /**
   * "The output of step 2": that step's value when it computes one, else why it cannot be used.
   * Steps are numbered as planned, which is the order the user asked for them in.
   */
  resultOf(step: number): string | Refuse {
    const s = step >= 1 ? this.steps[step - 1] : undefined;
    if (!s)
      return refuse(
        `this prompt plans ${this.steps.length === 1 ? "1 step" : `${this.steps.length} steps`} before it, so there is no step ${step} for it to use.`,
      );
    if (!Object.hasOwn(RESULT_PATH, s.tool)) return refuse(`step ${step} (${s.tool}) does not compute a value; only a calculation or a fetch does.`);
    return ref(s.step_number, RESULT_PATH[s.tool]);
  }

  /**
   * "It" as a todo: the id of the latest todo a step added, read or completed; "deleted" when the
   * latest step about one todo deleted it, since acting on it then is sure to fail.
   */
  todoId(): string | "deleted" | undefined {
    const s = this.latest((x) => x.tool.startsWith("TodoStore.") && x.tool !== "TodoStore.list");
    if (s?.tool === "TodoStore.delete") return "deleted";
    return s && ONE_TODO.has(s.tool) ? ref(s.step_number, ["todo", "id"]) : undefined;
  }

  /** The latest todo this prompt adds ("the todo I just added"). */
  addedId(): string | undefined {
    const s = this.latest((x) => x.tool === "TodoStore.add");
    return s && ref(s.step_number, ["todo", "id"]);
  }

  /** The latest list of todos: "the first one" means a position in what it returned. */
  list(): PlannedStep | undefined {
    return this.latest((x) => x.tool === "TodoStore.list");
  }

  /**
   * An earlier step that already did `tool` to the todo `id` stands for, or deleted it: doing it
   * again is sure to fail ("delete the first one, then delete the first one"), so the caller lists
   * afresh after that step.
   */
  actedOn(id: string, tool: string): PlannedStep | undefined {
    return this.latest((x) => (x.tool === tool || x.tool === "TodoStore.delete") && x.input.id === id);
  }

  /** The number of todos the latest list found ("the count"). */
  count(): string | undefined {
    const s = this.latest((x) => x.tool === "TodoStore.list");
    return s && ref(s.step_number, ["count"]);
  }

  /** The same plan with a calculation at its end: would the clause plan if there were a result? */
  withResult(): ClauseContext {
    return new ClauseContext([...this.steps, { step_number: this.next, tool: "Calculator.evaluate", input: {} }], this.spans, this.following);
  }

  /** Every earlier step that adds, completes or deletes a todo: a fresh list waits for them. */
  writes(): number[] {
    return this.steps.filter((x) => TODO_WRITES.has(x.tool)).map((x) => x.step_number);
  }

  /** The clause as typed, quotes back in place. */
  typed(text: string): string {
    return restore(text, this.spans);
  }

  quoted(text: string): string | undefined {
    return quotedOnly(text, this.spans);
  }
}

const MAX_QUOTE = 60;

/** A short quotation of what the user typed, for reasoning and messages. */
export function excerpt(text: string, max = MAX_QUOTE): string {
  return text.length > max ? `${text.slice(0, max - 1).trimEnd()}…` : text;
}

/**
 * A step's reasoning. Bounded where it is written: a long prompt must never be refused because the
 * planner's own explanation outgrew the plan schema.
 */
export const because = (ctx: ClauseContext, clause: string, what: string): string => `"${excerpt(ctx.typed(clause))}" ${what}`;
