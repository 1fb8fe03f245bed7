import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { llmConfig } from "../../src/planner/llm/llm-config";
import { planWithLlm } from "../../src/planner/llm/llm-planner";
import { systemPrompt } from "../../src/planner/llm/llm-prompt";
import { makePlan } from "../../src/planner/make-plan";
import type { Plan } from "../../src/execution/plan-schema";
import { api, createRun, errorOf, waitForRun } from "../helpers";

// This project's LLM_BASE_URL is a local server speaking the OpenAI chat-completions protocol with
// recorded responses, chosen by model name (test/llm/mock-openai.ts); the budget is 1.5 s.
const base = llmConfig(env)!;
const withModel = (model: string) => ({ ...base, model });
const envWithModel = (model: string) => ({ ...env, LLM_MODEL: model }) as Env;
const PROMPT = "calculate 2 + 3 and calculate 4 * 5, then list my todos";

interface Seen {
  model: string;
  messages: number;
  catalogue: boolean;
  repair: boolean;
}
const requests = async (model: string): Promise<Seen[]> =>
  ((await (await fetch(`${base.baseURL!.replace(/\/v1$/, "")}/requests`)).json()) as Seen[]).filter((r) => r.model === model);

describe("the LLM planner, against a local OpenAI-compatible server", () => {
  it("plans a run with the model, sending it the tool catalogue, and the run completes", async () => {
    const before = (await requests("valid-parallel")).length;
    const created = await createRun({ prompt: PROMPT });
    expect(created.plan).toMatchObject({ planner: "llm", cached: false });
    expect(created.plan!.fallback_reason).toBeUndefined();
    expect(created.plan!.steps.map((s) => s.depends_on)).toEqual([[], [], [1, 2]]);
    const seen = await requests("valid-parallel");
    expect(seen.length).toBe(before + 1);
    expect(seen.at(-1)!.catalogue).toBe(true);
    const run = await waitForRun(created.run_id);
    expect(run.status).toBe("completed");
    expect(run.execution_log.slice(0, 2).map((s) => s.output)).toEqual([5, 20]);
  });

  it("reuses the validated plan for an identical prompt within the window", async () => {
    const calls = (await requests("valid-parallel")).length;
    // The same prompt as above once normalised (case and spacing).
    const res = await api("/plans", { method: "POST", json: { prompt: "  Calculate 2 + 3 and  calculate 4 * 5, then list my TODOS " } });
    const plan = (await res.json()) as Plan;
    expect(plan).toMatchObject({ planner: "llm", cached: true });
    expect(plan.steps.map((s) => s.tool)).toEqual(["Calculator.evaluate", "Calculator.evaluate", "TodoStore.list"]);
    expect((await requests("valid-parallel")).length).toBe(calls); // the model was not asked again
  });

  it("puts an approval in front of the tools APPROVAL_REQUIRED_TOOLS lists, in the model's plan too", async () => {
    const planned = await makePlan({ prompt: PROMPT }, { ...envWithModel("valid-parallel"), APPROVAL_REQUIRED_TOOLS: "TodoStore.list" } as Env, "dev");
    if (!planned.ok) expect.fail(JSON.stringify(planned));
    expect(planned.plan.planner).toBe("llm");
    expect(planned.plan.steps.map((s) => [s.step_number, s.tool, s.depends_on])).toEqual([
      [1, "Calculator.evaluate", []],
      [2, "Calculator.evaluate", []],
      [4, "Human.approve", [1, 2]],
      [3, "TodoStore.list", [1, 2, 4]],
    ]);
    expect(planned.plan.steps[2]!.input).toEqual({ message: 'Allow step 3, TodoStore.list with {"status":"all"}?' });
  });

  it("tells the model what Human.approve is for", () => {
    const prompt = systemPrompt();
    expect(prompt).toContain("Human.approve");
    expect(prompt).toMatch(/ask me before|approval first/i);
  });

  it("repairs a schema violation on the second try, feeding back the errors", async () => {
    const r = await planWithLlm(withModel("repair"), env, PROMPT);
    expect(r).toMatchObject({ ok: true, attempts: 2 });
    const seen = await requests("repair");
    // system + task, then system + task + the rejected answer + the problems
    expect(seen.at(-2)).toMatchObject({ repair: false, messages: 2 });
    expect(seen.at(-1)).toMatchObject({ repair: true, messages: 4 });
  });

  it("falls back to the rules when the model names a tool that does not exist, after one repair", async () => {
    const r = await planWithLlm(withModel("unknown-tool"), env, PROMPT);
    expect(r).toMatchObject({ ok: false, reason: "invalid_output", attempts: 2 });
    if (!r.ok) expect(r.detail).toContain("Weather.get");
    const planned = await makePlan({ prompt: PROMPT }, envWithModel("unknown-tool"));
    expect(planned.ok).toBe(true);
    if (planned.ok) expect(planned.plan).toMatchObject({ planner: "rules", fallback_reason: "invalid_output" });
  });

  it("falls back on invalid JSON", async () => {
    const r = await planWithLlm(withModel("invalid-json"), env, PROMPT);
    expect(r).toMatchObject({ ok: false, reason: "invalid_output", attempts: 2 });
  });

  it("falls back when the model is slower than the planning budget, without waiting for it", async () => {
    const started = Date.now();
    const planned = await makePlan({ prompt: PROMPT }, envWithModel("slow"));
    expect(Date.now() - started).toBeLessThan(2900); // the recorded answer comes after 3 s
    expect(planned.ok && planned.plan).toMatchObject({ planner: "rules", fallback_reason: "timeout" });
  });

  it("falls back on a provider error (500) without retrying it", async () => {
    const before = (await requests("error-500")).length;
    const planned = await makePlan({ prompt: PROMPT }, envWithModel("error-500"));
    expect(planned.ok && planned.plan).toMatchObject({ planner: "rules", fallback_reason: "provider_error" });
    expect((await requests("error-500")).length).toBe(before + 1);
  });

  it("falls back on 401 and shows the misconfiguration in GET /health until a call succeeds", async () => {
    const planned = await makePlan({ prompt: PROMPT }, envWithModel("error-401"));
    expect(planned.ok && planned.plan).toMatchObject({ planner: "rules", fallback_reason: "provider_error" });
    const health = (await (await api("/health")).json()) as { status: string; checks: { llm: string } };
    expect(health.status).toBe("ok"); // planning still works, through the rules
    expect(health.checks.llm).toMatch(/^misconfigured: .*401/);
    await planWithLlm(withModel("repair"), env, PROMPT);
    expect(((await (await api("/health")).json()) as { checks: { llm: string } }).checks.llm).toBe("ok");
  });

  it("treats an unknown model (404) as a misconfiguration too", async () => {
    const planned = await makePlan({ prompt: PROMPT }, envWithModel("no-such-model"));
    expect(planned.ok && planned.plan).toMatchObject({ planner: "rules", fallback_reason: "provider_error" });
    expect(((await (await api("/health")).json()) as { checks: { llm: string } }).checks.llm).toMatch(/misconfigured.*404/);
    await planWithLlm(withModel("repair"), env, PROMPT);
  });

  it("answers 400 when the model fails and the rules cannot plan the prompt either", async () => {
    const planned = await makePlan({ prompt: "book me a flight to Lisbon" }, envWithModel("error-500"));
    expect(planned).toMatchObject({ ok: false, code: "unplannable_prompt", details: { fallback_reason: "provider_error" } });
    const res = await api("/runs", { method: "POST", json: { prompt: "   " } });
    expect((await errorOf(res)).code).toBe("empty_prompt");
  });
});

describe("a replay of an Idempotency-Key", () => {
  it("answers from the run object without calling the planner again", async () => {
    // A prompt of its own, so the plan cache cannot be what saves the second call.
    const prompt = `${PROMPT} ${crypto.randomUUID().slice(0, 8)}`;
    const headers = { "idempotency-key": `replay-${crypto.randomUUID()}` };
    const before = (await requests("valid-parallel")).length;
    const first = await api("/runs", { method: "POST", json: { prompt }, headers });
    expect(first.status).toBe(201);
    expect((await requests("valid-parallel")).length).toBe(before + 1);
    const again = await api("/runs", { method: "POST", json: { prompt }, headers });
    expect(again.status).toBe(200);
    expect(((await again.json()) as { run_id: string }).run_id).toBe(((await first.json()) as { run_id: string }).run_id);
    expect((await requests("valid-parallel")).length).toBe(before + 1);
  });
});
