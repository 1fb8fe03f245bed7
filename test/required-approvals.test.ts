// APPROVAL_REQUIRED_TOOLS: whichever planner wrote a plan (rules, an explicit plan; the LLM's in
// test/llm/), each step of a listed tool gets a Human.approve step in front of it, per tenant
// when the entry names one. The last test runs such a plan: the tool waits for the decision.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { DEV_TENANT } from "../src/auth/api-keys";
import { startRun } from "../src/durable/run/start-run";
import { makePlan } from "../src/planner/make-plan";
import type { Plan } from "../src/execution/plan-schema";
import { approvalRequiredTools, withRequiredApprovals } from "../src/planner/required-approvals";
import { api, getRun, waitForRun } from "./helpers";

const withSetting = (setting: string) => ({ ...env, APPROVAL_REQUIRED_TOOLS: setting }) as Env;

async function planned(source: Parameters<typeof makePlan>[0], setting: string, tenant = DEV_TENANT): Promise<Plan> {
  const outcome = await makePlan(source, withSetting(setting), tenant);
  if (!outcome.ok) expect.fail(JSON.stringify(outcome));
  return outcome.plan;
}
const shape = (plan: Plan) => plan.steps.map((s) => `${s.step_number}:${s.tool}<-[${s.depends_on.join(",")}]`);

describe("APPROVAL_REQUIRED_TOOLS", () => {
  it("reads tools for every tenant, and tenant:tool entries for that tenant only", () => {
    const setting = " TodoStore.delete , acme:Http.get,other:TodoStore.add,,Human.approve";
    expect([...approvalRequiredTools(setting, "acme")].sort()).toEqual(["Http.get", "TodoStore.delete"]);
    expect([...approvalRequiredTools(setting, "dev")]).toEqual(["TodoStore.delete"]);
    expect(approvalRequiredTools("", "dev").size).toBe(0);
    expect(approvalRequiredTools(undefined, "dev").size).toBe(0);
  });

  it("leaves a plan alone when nothing in it is listed, or when an approval already guards the step", async () => {
    expect(
      withRequiredApprovals([{ step_number: 1, tool: "Calculator.evaluate", input: {}, depends_on: [], reasoning: "" }], new Set(["Http.get"])),
    ).toBeNull();
    const plan = await planned({ prompt: "ask me before deleting todo 3" }, "TodoStore.delete");
    expect(shape(plan)).toEqual(["1:Human.approve<-[]", "2:TodoStore.delete<-[1]"]);
  });

  it("puts an approval in front of a rule-planned step: it waits for the step's dependencies, the step waits for it", async () => {
    const plan = await planned({ prompt: "add a todo to buy milk, then delete it and list my todos" }, "TodoStore.delete");
    expect(plan.planner).toBe("rules");
    expect(shape(plan)).toEqual(["1:TodoStore.add<-[]", "4:Human.approve<-[1]", "2:TodoStore.delete<-[1,4]", "3:TodoStore.list<-[1]"]);
    // References stay as written, and the message names the step and its input in words.
    expect(plan.steps[2]!.input).toEqual({ id: "{{steps.1.output.todo.id}}" });
    expect(plan.steps[1]!.input).toEqual({ message: `Allow step 2, TodoStore.delete with {"id":"‹step 1's todo.id›"}?` });
    expect(plan.steps[1]!.reasoning).toContain("APPROVAL_REQUIRED_TOOLS");
  });

  it("puts approvals into an explicit plan, for the tenant the entry names", async () => {
    const source = {
      plan: {
        steps: [
          { step_number: 1, tool: "Calculator.evaluate", input: { expression: "1 + 1" }, depends_on: [] },
          { step_number: 2, tool: "TodoStore.add", input: { title: "a {{steps.1.output}}" }, depends_on: [1] },
          { step_number: 3, tool: "TodoStore.add", input: { title: "b" }, depends_on: [] },
        ],
      },
    };
    const acme = await planned(source, "acme:TodoStore.add", "acme");
    expect(acme.planner).toBe("explicit");
    expect(shape(acme)).toEqual(["1:Calculator.evaluate<-[]", "4:Human.approve<-[1]", "2:TodoStore.add<-[1,4]", "5:Human.approve<-[]", "3:TodoStore.add<-[5]"]);
    expect(shape(await planned(source, "acme:TodoStore.add", "dev"))).toEqual(["1:Calculator.evaluate<-[]", "2:TodoStore.add<-[1]", "3:TodoStore.add<-[]"]);
  });

  it("refuses a plan the approvals would take past the step limit, saying why", async () => {
    const steps = Array.from({ length: 30 }, (_, i) => ({ step_number: i + 1, tool: "TodoStore.add", input: { title: `t${i}` }, depends_on: [] }));
    const outcome = await makePlan({ plan: { steps } }, withSetting("TodoStore.add"), DEV_TENANT);
    expect(outcome).toMatchObject({ ok: false, code: "invalid_plan" });
    expect((outcome as { message: string }).message).toContain("APPROVAL_REQUIRED_TOOLS");
  });

  it("a run of such a plan waits for the approval before the tool runs, then completes", async () => {
    const started = await startRun(withSetting("TodoStore.add"), {
      tenant: DEV_TENANT,
      body: { prompt: "add a todo to water the plants" },
      source: { prompt: "add a todo to water the plants" },
      options: {},
    });
    if (!started.ok) expect.fail(JSON.stringify(started));
    const run = started.run;
    expect(run.status).toBe("waiting");
    // The approval took the next free number, 2: nothing in the plan is renumbered.
    expect(run.execution_log.map((s) => [s.step_number, s.tool, s.status])).toEqual([
      [1, "TodoStore.add", "pending"],
      [2, "Human.approve", "waiting"],
    ]);
    const decided = await api(`/runs/${run.run_id}/steps/2/decision`, { method: "POST", json: { decision: "approve" } });
    expect(decided.status).toBe(200);
    const done = await waitForRun(run.run_id);
    expect(done.status).toBe("completed");
    expect((await getRun(run.run_id)).execution_log[0]!.output).toMatchObject({ todo: { title: "water the plants" } });
  });
});
