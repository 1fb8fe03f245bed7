import { describe, expect, it } from "vitest";
import {
  UnresolvedReferenceError as StepReferenceError,
  findReferences,
  isWholeReference,
  referenceMismatch,
  resolveReferences,
} from "../src/planner/references";

const outputs = (entries: [number, unknown][]): ReadonlyMap<number, unknown> => new Map(entries);

describe("findReferences", () => {
  it("finds nothing in input without references", () => {
    expect(findReferences({ expression: "2 + 3", n: 5, ok: true, none: null, list: ["a", 1] })).toEqual([]);
    expect(findReferences("plain")).toEqual([]);
    expect(findReferences(undefined)).toEqual([]);
  });

  it("finds a whole reference with its step, an empty path and where it stands", () => {
    expect(findReferences({ title: "{{steps.1.output}}" })).toEqual([{ step_number: 1, path: [], at: ["title"] }]);
  });

  it("splits the path after output", () => {
    expect(findReferences({ id: "{{steps.12.output.todo.id}}" })).toEqual([{ step_number: 12, path: ["todo", "id"], at: ["id"] }]);
    expect(findReferences({ t: "{{steps.2.output.todos.0.title}}" })).toEqual([{ step_number: 2, path: ["todos", "0", "title"], at: ["t"] }]);
  });

  it("finds several references embedded in one string, in order", () => {
    expect(findReferences({ expression: "{{steps.1.output}} + {{steps.3.output.value}} * 2" })).toEqual([
      { step_number: 1, path: [], at: ["expression"] },
      { step_number: 3, path: ["value"], at: ["expression"] },
    ]);
  });

  it("looks inside nested objects and arrays and records the path to each", () => {
    const refs = findReferences({ a: { b: ["x", "{{steps.4.output}}"] }, c: [{ d: "see {{steps.5.output.e}}" }] });
    expect(refs).toEqual([
      { step_number: 4, path: [], at: ["a", "b", 1] },
      { step_number: 5, path: ["e"], at: ["c", 0, "d"] },
    ]);
  });

  it("allows spaces inside the braces", () => {
    expect(findReferences({ x: "{{ steps.7.output.a }}" })).toEqual([{ step_number: 7, path: ["a"], at: ["x"] }]);
  });

  it("ignores things that only look like references", () => {
    for (const s of [
      "{{steps.x.output}}",
      "{{step.1.output}}",
      "{{steps.1.result}}",
      "{steps.1.output}",
      "{{steps.1.output.}}",
      "steps.1.output",
      "{{steps.1.output.a b}}",
    ]) {
      expect(findReferences({ s }), s).toEqual([]);
    }
  });
});

describe("isWholeReference", () => {
  it("is true only for a string that is exactly one reference", () => {
    expect(isWholeReference("{{steps.1.output}}")).toBe(true);
    expect(isWholeReference("{{steps.1.output.todo.id}}")).toBe(true);
    expect(isWholeReference("{{ steps.1.output }}")).toBe(true);
    expect(isWholeReference("id {{steps.1.output}}")).toBe(false);
    expect(isWholeReference("{{steps.1.output}} ")).toBe(false);
    expect(isWholeReference("{{steps.1.output}}{{steps.2.output}}")).toBe(false);
    expect(isWholeReference(5)).toBe(false);
    expect(isWholeReference(null)).toBe(false);
    expect(isWholeReference({ x: "{{steps.1.output}}" })).toBe(false);
  });
});

describe("resolveReferences", () => {
  it("gives a whole reference the referenced value with its type", () => {
    const out = outputs([
      [1, 300],
      [2, { todo: { id: 7, title: "buy milk" } }],
      [3, [1, 2, 3]],
      [4, null],
      [5, false],
      [6, "text"],
    ]);
    expect(resolveReferences({ n: "{{steps.1.output}}" }, out)).toEqual({ n: 300 });
    expect(resolveReferences({ o: "{{steps.2.output}}" }, out)).toEqual({ o: { todo: { id: 7, title: "buy milk" } } });
    expect(resolveReferences({ a: "{{steps.3.output}}" }, out)).toEqual({ a: [1, 2, 3] });
    expect(resolveReferences({ z: "{{steps.4.output}}" }, out)).toEqual({ z: null });
    expect(resolveReferences({ f: "{{steps.5.output}}" }, out)).toEqual({ f: false });
    expect(resolveReferences({ s: "{{steps.6.output}}" }, out)).toEqual({ s: "text" });
    expect(typeof (resolveReferences({ n: "{{ steps.1.output }}" }, out) as { n: unknown }).n).toBe("number");
  });

  it("resolves a whole reference passed on its own", () => {
    expect(resolveReferences("{{steps.1.output}}", outputs([[1, 42]]))).toBe(42);
  });

  it("interpolates an embedded reference as text", () => {
    const out = outputs([
      [1, 5],
      [2, "milk"],
      [3, { a: 1 }],
      [4, [1, "x"]],
      [5, null],
    ]);
    expect(resolveReferences({ e: "{{steps.1.output}} * 2" }, out)).toEqual({ e: "5 * 2" });
    expect(resolveReferences({ t: "buy {{steps.2.output}} today" }, out)).toEqual({ t: "buy milk today" });
    expect(resolveReferences({ t: "got {{steps.3.output}}" }, out)).toEqual({ t: 'got {"a":1}' });
    expect(resolveReferences({ t: "got {{steps.4.output}}" }, out)).toEqual({ t: 'got [1,"x"]' });
    expect(resolveReferences({ t: "got {{steps.5.output}}" }, out)).toEqual({ t: "got null" });
    expect(resolveReferences({ e: "{{steps.1.output}} + {{steps.1.output}}" }, out)).toEqual({ e: "5 + 5" });
  });

  it("follows paths into objects and arrays", () => {
    const out = outputs([
      [1, { todo: { id: 9, title: "call mom" } }],
      [
        2,
        {
          todos: [
            { id: 1, title: "first" },
            { id: 2, title: "second" },
          ],
          count: 2,
        },
      ],
      [
        3,
        [
          [10, 20],
          [30, 40],
        ],
      ],
    ]);
    expect(resolveReferences({ id: "{{steps.1.output.todo.id}}" }, out)).toEqual({ id: 9 });
    expect(resolveReferences({ title: "{{steps.2.output.todos.1.title}}" }, out)).toEqual({ title: "second" });
    expect(resolveReferences({ first: "{{steps.2.output.todos.0}}" }, out)).toEqual({ first: { id: 1, title: "first" } });
    expect(resolveReferences({ v: "{{steps.3.output.1.0}}" }, out)).toEqual({ v: 30 });
    expect(resolveReferences({ t: "#{{steps.1.output.todo.id}}: {{steps.1.output.todo.title}}" }, out)).toEqual({ t: "#9: call mom" });
  });

  it("counts a negative list index from the end, so a plan can name the last todo of a list", () => {
    const out = outputs([
      [
        1,
        {
          todos: [
            { id: 4, title: "oldest" },
            { id: 7, title: "middle" },
            { id: 9, title: "newest" },
          ],
          count: 3,
        },
      ],
    ]);
    expect(resolveReferences({ id: "{{steps.1.output.todos.-1.id}}" }, out)).toEqual({ id: 9 });
    expect(resolveReferences({ id: "{{steps.1.output.todos.-3.id}}" }, out)).toEqual({ id: 4 });
    expect(resolveReferences({ t: "last: {{steps.1.output.todos.-2.title}}" }, out)).toEqual({ t: "last: middle" });
    expect(findReferences({ id: "{{steps.1.output.todos.-1.id}}" })).toEqual([{ step_number: 1, path: ["todos", "-1", "id"], at: ["id"] }]);
  });

  it("says how many items a list has when a position is past its end", () => {
    const out = outputs([
      [1, { todos: [], count: 0 }],
      [2, { todos: [{ id: 1 }], count: 1 }],
    ]);
    expect(() => resolveReferences({ id: "{{steps.1.output.todos.0.id}}" }, out)).toThrow('Step 1\'s output has no "todos.0.id": output.todos has no items.');
    expect(() => resolveReferences({ id: "{{steps.1.output.todos.-1.id}}" }, out)).toThrow(StepReferenceError);
    expect(() => resolveReferences({ id: "{{steps.2.output.todos.1.id}}" }, out)).toThrow("output.todos has 1 item.");
    expect(() => resolveReferences({ id: "{{steps.2.output.todos.-2.id}}" }, out)).toThrow("output.todos has 1 item.");
  });

  it("treats a negative index on an object as a key it does not have", () => {
    expect(() => resolveReferences({ x: "{{steps.1.output.-1}}" }, outputs([[1, { a: 1 }]]))).toThrow(StepReferenceError);
  });

  it("resolves references nested anywhere in the input and leaves other values alone", () => {
    const out = outputs([[1, { todo: { id: 3 } }]]);
    const input = { a: ["{{steps.1.output.todo.id}}", 7, true, null], b: { c: "id={{steps.1.output.todo.id}}", d: 1.5 }, e: "plain" };
    expect(resolveReferences(input, out)).toEqual({ a: [3, 7, true, null], b: { c: "id=3", d: 1.5 }, e: "plain" });
  });

  it("does not change the input it was given", () => {
    const input = { n: "{{steps.1.output}}", list: ["{{steps.1.output}}"] };
    const copy = structuredClone(input);
    resolveReferences(input, outputs([[1, 4]]));
    expect(input).toEqual(copy);
  });

  it("throws a UnresolvedReferenceError for a step with no output", () => {
    expect(() => resolveReferences({ n: "{{steps.2.output}}" }, outputs([[1, 5]]))).toThrow(StepReferenceError);
    expect(() => resolveReferences({ n: "x {{steps.2.output}}" }, outputs([[1, 5]]))).toThrow(/Step 2/);
  });

  it("throws a UnresolvedReferenceError for a path that is not there", () => {
    const out = outputs([
      [1, { todo: { id: 9 } }],
      [2, 300],
      [3, null],
      [4, { list: [1, 2] }],
    ]);
    expect(() => resolveReferences({ id: "{{steps.1.output.todo.title}}" }, out)).toThrow(StepReferenceError);
    expect(() => resolveReferences({ id: "{{steps.1.output.todo.title}}" }, out)).toThrow(/todo\.title/);
    expect(() => resolveReferences({ id: "{{steps.1.output.nope.id}}" }, out)).toThrow(StepReferenceError);
    expect(() => resolveReferences({ id: "{{steps.2.output.value}}" }, out)).toThrow(StepReferenceError);
    expect(() => resolveReferences({ id: "{{steps.3.output.value}}" }, out)).toThrow(StepReferenceError);
    expect(() => resolveReferences({ id: "{{steps.4.output.list.5}}" }, out)).toThrow(StepReferenceError);
    expect(() => resolveReferences({ t: "x {{steps.1.output.missing}}" }, out)).toThrow(StepReferenceError);
  });

  it("does not reach into inherited properties", () => {
    const out = outputs([[1, { todo: { id: 1 } }]]);
    expect(() => resolveReferences({ x: "{{steps.1.output.constructor}}" }, out)).toThrow(StepReferenceError);
    expect(() => resolveReferences({ x: "{{steps.1.output.__proto__}}" }, out)).toThrow(StepReferenceError);
    expect(() => resolveReferences({ x: "{{steps.1.output.todo.toString}}" }, out)).toThrow(StepReferenceError);
  });

  it("resolves an existing output that is null or undefined only when no path goes through it", () => {
    const out = outputs([[1, undefined]]);
    expect(resolveReferences({ x: "{{steps.1.output}}" }, out)).toEqual({ x: undefined });
    expect(() => resolveReferences({ x: "{{steps.1.output.a}}" }, out)).toThrow(StepReferenceError);
  });

  it("throws its own UnresolvedReferenceError class, an Error named UnresolvedReferenceError", () => {
    let thrown: unknown;
    try {
      resolveReferences("{{steps.9.output}}", outputs([]));
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(StepReferenceError);
    expect(thrown).toBeInstanceOf(Error);
    expect((thrown as Error).name).toBe("UnresolvedReferenceError");
  });
});

describe("referenceMismatch", () => {
  const planned = { title: "{{steps.2.output}}", note: "done: {{steps.2.output}}", id: "{{steps.1.output.todos.-1.id}}" };
  it("names the step, what its output is, and what the tool needs", () => {
    expect(referenceMismatch("TodoStore.add", planned, { title: { slept_seconds: 4 } }, { path: ["title"], expected: "string" })).toBe(
      "step 2's output is an object; TodoStore.add needs a string title",
    );
    expect(referenceMismatch("TodoStore.complete", planned, { id: [1, 2] }, { path: ["id"], expected: "number" })).toBe(
      "step 1's output.todos.-1.id is a list; TodoStore.complete needs a number id",
    );
    const union = { path: ["title"], errors: [[{ expected: "string" }], [{ expected: "number" }]] };
    expect(referenceMismatch("TodoStore.add", planned, { title: null }, union)).toBe("step 2's output is null; TodoStore.add needs a string or number title");
  });
  it("says nothing for a field that was not a whole reference", () => {
    expect(referenceMismatch("X", planned, { note: "done: {}" }, { path: ["note"], expected: "number" })).toBeUndefined();
    expect(referenceMismatch("X", planned, {}, { path: ["missing"], expected: "string" })).toBeUndefined();
  });
});
