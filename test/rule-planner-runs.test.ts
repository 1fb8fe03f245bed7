import { env } from "cloudflare:workers";
import { describe, expect, inject, it } from "vitest";
import { TOOL_OUTPUTS, type Shape } from "../src/planner/tool-outputs";
import { calculator } from "../src/tools/calculator/calculator";
import { httpGetImpl } from "../src/tools/http-get/execute";
import { tools } from "../src/tools/registry";
import { todoAddImpl, todoCompleteImpl, todoDeleteImpl, todoGetImpl, todoListImpl } from "../src/tools/todo-store/execute";
import type { RunResource } from "../src/durable/run/run-view";
import { api, errorOf, newApiKey, toolContext, uniq } from "./helpers";

/**
 * The rule planner's plans, run for real: positions in a list become real ids, a hostile quoted
 * title is stored as typed, and the output shapes the planner and validatePlan rely on are the
 * shapes the tools return.
 */

const upstream = inject("upstreamUrl");

function conforms(value: unknown, shape: Shape): boolean {
  if (shape === "unknown") return true;
  if (shape === "number" || shape === "string") return typeof value === shape;
  if ("list" in shape) return Array.isArray(value) && value.every((v) => conforms(v, shape.list));
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
  const fields = Object.entries(shape.object);
  return Object.keys(value).length === fields.length && fields.every(([k, s]) => Object.hasOwn(value, k) && conforms((value as Record<string, unknown>)[k], s));
}

describe("the output shapes the planner relies on", () => {
  it("cover every tool", () => {
    expect(new Set(Object.keys(TOOL_OUTPUTS))).toEqual(new Set(tools.keys()));
  });

  it("are what the tools return", async () => {
    const tenant = `shapes-${uniq()}`;
    // Each call its own step: writes are idempotent per step.
    const same = () => toolContext({ tenant, idempotency_key: `run_shapes:${crypto.randomUUID()}` });
    const outputs: [string, unknown][] = [["Calculator.evaluate", calculator.run({ expression: "6 * 7" }).output]];
    const added = await todoAddImpl.execute({ title: "shape check" }, same());
    const id = (added.output as { todo: { id: number } }).todo.id;
    outputs.push(["TodoStore.add", added.output]);
    outputs.push(["TodoStore.get", (await todoGetImpl.execute({ id }, same())).output]);
    outputs.push(["TodoStore.list", (await todoListImpl.execute({ status: "all" }, same())).output]);
    outputs.push(["TodoStore.complete", (await todoCompleteImpl.execute({ id }, same())).output]);
    outputs.push(["TodoStore.delete", (await todoDeleteImpl.execute({ id }, same())).output]);
    outputs.push(["Http.get", (await httpGetImpl.execute({ url: `${upstream}/ok` }, same())).output]);
    for (const [tool, output] of outputs) expect(conforms(output, TOOL_OUTPUTS[tool]!), `${tool}: ${JSON.stringify(output)}`).toBe(true);
  });

  it("is what a wait's step records", async () => {
    const res = await api("/runs?wait=10", { method: "POST", json: { plan: { steps: [{ step_number: 1, tool: "Wait.sleep", input: { seconds: 0.01 } }] } } });
    const ended = (await res.json()) as RunResource;
    expect(ended.status).toBe("completed");
    expect(conforms(ended.execution_log[0]!.output, TOOL_OUTPUTS["Wait.sleep"]!)).toBe(true);
  });
});

/** Runs `prompt` for `key`'s tenant and waits for it to end. */
async function run(prompt: string, key: string): Promise<RunResource> {
  const res = await api("/runs?wait=20", { method: "POST", json: { prompt }, key });
  const body = (await res.json()) as RunResource;
  expect(res.status, JSON.stringify(body)).toBe(201);
  return body;
}

const stepOutputs = (r: RunResource) => r.execution_log.map((e) => e.output);
const titles = (r: RunResource, step: number) =>
  (r.execution_log[step - 1]!.output as { todos: { title: string; status: string }[] }).todos.map((t) => t.title);

describe("positions and recency in a run", () => {
  it("deletes the last todo of the list it showed, and the list after it no longer has it", async () => {
    const { secret } = await newApiKey(`positions-${uniq()}`);
    const r = await run("add todos: first thing, second thing, then show me my tasks and delete the last one, then list my todos", secret);
    expect(r.status).toBe("completed");
    expect(r.plan!.steps.map((s) => [s.tool, s.depends_on])).toEqual([
      ["TodoStore.add", []],
      ["TodoStore.add", [1]],
      ["TodoStore.list", [2]],
      ["TodoStore.delete", [3]],
      ["TodoStore.list", [4]],
    ]);
    expect((r.execution_log[3]!.output as { deleted: { title: string } }).deleted.title).toBe("second thing");
    expect(titles(r, 5)).toEqual(["first thing"]);
  });

  it("marks the first open todo done, and the one it just added when told so", async () => {
    const { secret } = await newApiKey(`positions-${uniq()}`);
    await run("add todos: oldest, newest", secret);
    const first = await run("mark the first one as complete", secret);
    expect(first.status).toBe("completed");
    expect(first.execution_log[1]!.output).toMatchObject({ todo: { title: "oldest", status: "done" } });
    const added = await run("add a todo to water the plants, then complete the todo I just added", secret);
    expect(added.execution_log[1]!.output).toMatchObject({ todo: { title: "water the plants", status: "done" } });
  });

  it("fails a position in an empty list with a sentence saying the list is empty", async () => {
    const { secret } = await newApiKey(`positions-${uniq()}`);
    const r = await run("delete the last one", secret);
    expect(r.status).toBe("failed");
    expect(r.execution_log[1]!.error).toMatchObject({ code: "reference_unresolved" });
    expect(r.execution_log[1]!.error!.message).toContain("output.todos has no items");
  });
});

describe("the original project's headline prompts, run", () => {
  it("computes 15, then 0, adds a todo titled 0 and lists it", async () => {
    const { secret } = await newApiKey(`headline-${uniq()}`);
    const r = await run("Calculate 10 + 5, then use the result and subtract it by 15, then add the final number as a todo, then show me all my tasks", secret);
    expect(r.status).toBe("completed");
    expect(r.plan!.steps.map((s) => [s.tool, s.depends_on])).toEqual([
      ["Calculator.evaluate", []],
      ["Calculator.evaluate", [1]],
      ["TodoStore.add", [2]],
      ["TodoStore.list", [3]],
    ]);
    const [fifteen, zero, added] = stepOutputs(r);
    expect([fifteen, zero]).toEqual([15, 0]);
    expect(added).toMatchObject({ todo: { title: "0", status: "open" } });
    expect(titles(r, 4)).toEqual(["0"]);
  });

  it("titles the todo from the template with step 2's output in place of x", async () => {
    const { secret } = await newApiKey(`headline-${uniq()}`);
    const r = await run(
      "Calculate 10 + 5, then use the result and subtract it by 15, then add the final number as a todo item like `I have x bugs to fix` (where x is the output of step 2), then show me all my tasks",
      secret,
    );
    expect(r.status).toBe("completed");
    expect(stepOutputs(r).slice(0, 2)).toEqual([15, 0]);
    expect(stepOutputs(r)[2]).toMatchObject({ todo: { title: "I have 0 bugs to fix" } });
    expect(titles(r, 4)).toEqual(["I have 0 bugs to fix"]);
  });

  it("computes (42 * 8) + 15 = 351, doubles it and adds 702 as a todo", async () => {
    const { secret } = await newApiKey(`headline-${uniq()}`);
    const r = await run("Calculate (42 * 8) + 15, multiply by 2, add as todo", secret);
    expect(r.status).toBe("completed");
    expect(stepOutputs(r).slice(0, 2)).toEqual([351, 702]);
    expect(stepOutputs(r)[2]).toMatchObject({ todo: { title: "702" } });
  });
});

describe("a hostile unquoted title", () => {
  it("adds one todo and deletes nothing", async () => {
    const { secret } = await newApiKey(`hostile-${uniq()}`);
    await run("add todo TABLE todos; --", secret);
    const r = await run("add todo '; DROP TABLE todos; --", secret);
    expect(r.status).toBe("completed");
    expect(r.plan!.steps.map((s) => s.tool)).toEqual(["TodoStore.add"]);
    expect(stepOutputs(r)).toEqual([expect.objectContaining({ todo: expect.objectContaining({ title: "'; DROP TABLE todos; --" }) })]);
    const listed = await run("list my todos", secret);
    expect(titles(listed, 1)).toEqual(["TABLE todos; --", "'; DROP TABLE todos; --"]);
  });
});

describe("a hostile quoted title", () => {
  it("is stored exactly as typed and hurts nothing", async () => {
    const { secret } = await newApiKey(`hostile-${uniq()}`);
    const r = await run("add todo 'X; DROP TABLE todos; --', then list my todos", secret);
    expect(r.status).toBe("completed");
    expect(r.plan!.steps).toHaveLength(2);
    expect(r.execution_log[0]!.output).toMatchObject({ todo: { title: "X; DROP TABLE todos; --" } });
    expect(titles(r, 2)).toEqual(["X; DROP TABLE todos; --"]);
    const table = await env.DB.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'todos'").first<{ n: number }>();
    expect(table?.n).toBe(1);
  });
});

describe("errors a user meets", () => {
  it("a run that is not there: 404 with the run id in details", async () => {
    const id = "run_00000000000000000000000000000000";
    for (const [path, method] of [
      [`/runs/${id}`, "GET"],
      [`/runs/${id}/events`, "GET"],
      [`/runs/${id}/usage`, "GET"],
      [`/runs/${id}/cancel`, "POST"],
      ["/runs/not-a-run-id", "GET"],
    ] as const) {
      const res = await api(path, { method });
      expect(res.status, path).toBe(404);
      const error = await errorOf(res);
      expect(error.code).toBe("run_not_found");
      expect(error.details).toEqual({ run_id: path.split("/")[2] });
    }
  });

  it("a plan that hands a wait's output to a todo title is refused, saying the output is an object", async () => {
    const res = await api("/runs", {
      method: "POST",
      json: {
        plan: {
          steps: [
            { step_number: 1, tool: "Calculator.evaluate", input: { expression: "6*7" } },
            { step_number: 2, tool: "Wait.sleep", input: { seconds: 4 } },
            { step_number: 3, tool: "TodoStore.add", input: { title: "{{steps.2.output}}" }, depends_on: [1, 2] },
          ],
        },
      },
    });
    expect(res.status).toBe(400);
    const error = await errorOf(res);
    expect(error.code).toBe("invalid_plan");
    expect(JSON.stringify(error.details)).toContain("step 2's output is an object; TodoStore.add needs a string title.");
  });

  it("the prompt that once made that plan now adds the calculation's result", async () => {
    const res = await api("/plans", { method: "POST", json: { prompt: "calculate 6*7 and wait 4 seconds, then add the result as a todo" } });
    expect(res.status).toBe(200);
    const plan = (await res.json()) as { steps: { input: Record<string, unknown>; depends_on: number[] }[] };
    expect(plan.steps[2]).toMatchObject({ input: { title: "{{steps.1.output}}" }, depends_on: [1, 2] });
  });

  it("a refusal names what it did not plan and how to write it", async () => {
    const res = await api("/plans", { method: "POST", json: { prompt: "list my todos, then complete it" } });
    expect(res.status).toBe(400);
    const error = await errorOf(res);
    expect(error.code).toBe("unplannable_prompt");
    expect(error.message).toContain('"complete it"');
    expect(error.message).toContain('"complete todo 3"');
    expect(error.details).toEqual({ unparsed: ["complete it"] });
  });
});
