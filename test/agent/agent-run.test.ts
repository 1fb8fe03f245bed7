// Agent.run end to end under workerd: POST /runs, the real queue and consumer, the run object, and a
// model server speaking OpenAI chat completions at the wire level (test/llm/scripted-model.ts),
// scripted per test. The script is picked by the model's name, so each test names its own model.
import { env } from "cloudflare:workers";
import { describe, expect, inject, it, vi } from "vitest";
import { registerScript, scriptRecord } from "../llm/scripted-model-client";
import type { ScriptedTurn } from "../llm/scripted-model";
import { ADMIN_TOKEN, api, errorOf, getRun, newApiKey, SETTLE, uniq, waitForRun } from "../helpers";

const upstream = inject("upstreamUrl");
const modelUrl = env.SCRIPTED_MODEL_URL;

async function script(turns: ScriptedTurn[]): Promise<string> {
  const model = `agent-${uniq()}`;
  await registerScript(modelUrl, model, turns);
  return model;
}

async function startAgent(agent: Record<string, unknown>, options?: Record<string, unknown>) {
  const res = await api("/runs", { method: "POST", json: { agent, ...(options ? { options } : {}) } });
  expect(res.status, await res.clone().text()).toBe(201);
  return (await res.json()) as { run_id: string };
}

const eventsOf = async (runId: string) => {
  const res = await api(`/runs/${runId}/events?limit=1000`);
  return ((await res.json()) as { events: { type: string; data: Record<string, unknown> }[] }).events;
};

const call = (name: string, args: unknown) => ({ name, arguments: args });

describe("Agent.run", () => {
  it("runs a three-turn loop in which turn 2 uses turn 1's result, and makes each model call once", async () => {
    const model = await script([
      { tool_calls: [call("Calculator.evaluate", { expression: "(2+3)*7" })] },
      { tool_calls: [call("TodoStore.add", { title: "buy 35 apples" })] },
      { text: "Added a todo to buy 35 apples." },
    ]);
    const run = await startAgent({ goal: "work out (2+3)*7 and add a todo to buy that many apples", model });
    const done = await waitForRun(run.run_id);
    expect(done.status).toBe("completed");
    const entry = done.execution_log[0]!;
    expect(entry.output).toMatchObject({ answer: "Added a todo to buy 35 apples.", turns: 3, tool_calls: 2 });
    expect(entry.turns?.map((t) => t.calls.map((c) => [c.tool, c.status]))).toEqual([
      [["Calculator.evaluate", "succeeded"]],
      [["TodoStore.add", "succeeded"]],
      [],
    ]);
    const record = await scriptRecord(modelUrl, model);
    expect(record.calls).toEqual({ "0": 1, "1": 1, "2": 1 });
    // Turn 2's request carried turn 1's result, as the tool message for its call.
    const second = record.requests.find((r) => r.turn === 1)!;
    expect(second.messages.at(-1)).toMatchObject({ role: "tool", content: "35" });
    // Nobody watched this run: only the call sent as it was created streamed.
    expect(record.requests.map((r) => r.stream)).toEqual([true, false, false]);
    const usage = (await (await api(`/runs/${run.run_id}/usage`)).json()) as { llm: { calls: number; input_tokens: number } };
    expect(usage.llm.calls).toBe(3);
    expect(usage.llm.input_tokens).toBeGreaterThan(0);
    const types = (await eventsOf(run.run_id)).map((e) => e.type);
    expect(types.filter((t) => t === "llm.call_succeeded")).toHaveLength(3);
    expect(types).toContain("agent.finished");
  });

  it("runs a turn's calls in parallel within max_parallelism, as the upstream counts them", async () => {
    const key = uniq();
    const urls = [1, 2, 3, 4].map((i) => `${upstream}/counted/${key}?delay_ms=300&fail=0&i=${i}`);
    const model = await script([{ tool_calls: urls.map((url) => call("Http.get", { url })) }, { text: "fetched" }]);
    const run = await startAgent({ goal: "fetch these", model, tools: ["Http.get"] }, { max_parallelism: 3 });
    const done = await waitForRun(run.run_id);
    expect(done.status).toBe("completed");
    const most = (await (await fetch(`${upstream}/max/${key}`)).json()) as { max: number };
    expect(most.max).toBeGreaterThan(1);
    expect(most.max).toBeLessThanOrEqual(3);
  });

  it("gives a tool's failure to the model, which goes on", async () => {
    const model = await script([{ tool_calls: [call("Http.get", { url: `${upstream}/status/404` })] }, { text: "that page is gone" }]);
    const run = await startAgent({ goal: "fetch it", model, tools: ["Http.get"] });
    const done = await waitForRun(run.run_id);
    expect(done.status).toBe("completed");
    expect(done.execution_log[0]!.turns![0]!.calls[0]).toMatchObject({ status: "failed", error: { code: "upstream_rejected" } });
    const second = (await scriptRecord(modelUrl, model)).requests.find((r) => r.turn === 1)!;
    expect(JSON.stringify(second.messages.at(-1))).toContain("upstream_rejected");
  });

  it("never runs a tool outside its tools, and tells the model", async () => {
    const model = await script([{ tool_calls: [call("TodoStore.add", { title: "not allowed" })] }, { text: "ok, I cannot" }]);
    const run = await startAgent({ goal: "add a todo", model, tools: ["Calculator.evaluate"] });
    const done = await waitForRun(run.run_id);
    expect(done.status).toBe("completed");
    expect(done.execution_log[0]!.turns![0]!.calls[0]).toMatchObject({ tool: "TodoStore.add", status: "forbidden" });
    const todos = await env.DB.prepare("SELECT count(*) AS n FROM todos WHERE title = 'not allowed'").first<{ n: number }>();
    expect(todos!.n).toBe(0);
  });

  it("fails with max_turns_exceeded and makes no call past max_turns", async () => {
    const loop = { tool_calls: [call("Calculator.evaluate", { expression: "1+1" })] };
    const model = await script([loop, loop, loop, loop]);
    const run = await startAgent({ goal: "loop", model, max_turns: 2 });
    const done = await waitForRun(run.run_id);
    expect(done.status).toBe("failed");
    expect(done.error?.code).toBe("max_turns_exceeded");
    expect((await scriptRecord(modelUrl, model)).calls).toEqual({ "0": 1, "1": 1 });
  });

  it("never sends the model a call that would cross the step's token budget", async () => {
    const loop = { tool_calls: [call("Calculator.evaluate", { expression: "1+1" })], usage: { completion_tokens: 200 } };
    const model = await script([loop, loop, loop, loop, loop, loop]);
    const budget = 3000;
    const run = await startAgent({ goal: "loop", model, tools: ["Calculator.evaluate"], budget: { max_tokens: budget } });
    const done = await waitForRun(run.run_id);
    expect(done.status).toBe("failed");
    expect(done.error?.code).toBe("budget_exceeded");
    const record = await scriptRecord(modelUrl, model);
    // Each request's worst case (its prompt as reported, plus the output it allowed) fit in what was left.
    let spent = 0;
    for (const [i, r] of record.requests.entries()) {
      expect(r.max_tokens).not.toBeNull();
      const turn = done.execution_log[0]!.turns![i]!;
      expect(spent + turn.usage!.input_tokens + r.max_tokens!).toBeLessThanOrEqual(budget);
      spent += turn.usage!.input_tokens + turn.usage!.output_tokens;
    }
    expect(spent).toBeLessThanOrEqual(budget);
    // The step's output says what the loop did before the budget stopped it: no answer, the transcript so far.
    const entry = done.execution_log[0]!;
    const output = entry.output as { answer: unknown; turns: number; tool_calls: number; usage: { input_tokens: number }; transcript: unknown[] };
    expect(output.answer).toBeNull();
    expect(output.turns).toBe(record.requests.length);
    expect(output.tool_calls).toBe(record.requests.length);
    expect(output.usage.input_tokens).toBeGreaterThan(0);
    expect(output.transcript).toEqual(entry.turns);
  });

  it("never sends the model a call that would cross the step's dollar budget", async () => {
    // priced-budget: $1000 per million in, $2000 out (LLM_PRICES in the test config).
    await registerScript(modelUrl, "priced-budget", [
      { tool_calls: [call("Calculator.evaluate", { expression: "1+1" })], usage: { completion_tokens: 100 } },
      { tool_calls: [call("Calculator.evaluate", { expression: "1+1" })], usage: { completion_tokens: 100 } },
      { tool_calls: [call("Calculator.evaluate", { expression: "1+1" })], usage: { completion_tokens: 100 } },
      { text: "done" },
    ]);
    const run = await startAgent({ goal: "loop", model: "priced-budget", tools: ["Calculator.evaluate"], budget: { max_cost_usd: 1.5 } });
    const done = await waitForRun(run.run_id);
    const usage = done.execution_log[0]!.usage!;
    expect(usage.cost_usd).toBeLessThanOrEqual(1.5);
    if (done.status === "failed") expect(done.error?.code).toBe("budget_exceeded");
    const record = await scriptRecord(modelUrl, "priced-budget");
    let spent = 0;
    for (const [i, r] of record.requests.entries()) {
      const u = done.execution_log[0]!.turns![i]!.usage!;
      expect(spent + (u.input_tokens * 1000 + r.max_tokens! * 2000) / 1e6).toBeLessThanOrEqual(1.5 + 1e-9);
      spent += u.cost_usd;
    }
  });

  it("refuses an agent at creation when its dollar budget names a model with no price, or no model is configured", async () => {
    const res = await api("/runs", { method: "POST", json: { agent: { goal: "x", model: "unpriced", budget: { max_cost_usd: 1 } } } });
    expect(res.status).toBe(400);
    expect((await errorOf(res)).message).toContain("LLM_PRICES");
    const bad = await api("/runs", { method: "POST", json: { agent: { goal: "x".repeat(9000) } } });
    expect(bad.status).toBe(400);
  });

  it("waits for a person on a call in approve; approve runs it and reject tells the model", async () => {
    const model = await script([
      { tool_calls: [call("TodoStore.add", { title: `approved ${model0}` }), call("TodoStore.add", { title: `rejected ${model0}` })] },
      { text: "one added" },
    ]);
    const run = await startAgent({ goal: "add two todos", model, approve: ["TodoStore.*"] });
    const waiting = await waitForRun(run.run_id, (r) => r.status === "waiting");
    const calls = waiting.execution_log[0]!.turns![0]!.calls;
    expect(calls.map((c) => [c.call, c.status])).toEqual([
      [1, "waiting"],
      [2, "waiting"],
    ]);
    const ok = await api(`/runs/${run.run_id}/steps/1/decision`, { method: "POST", json: { decision: "approve", call: 1 } });
    expect(ok.status).toBe(200);
    const no = await api(`/runs/${run.run_id}/steps/1/decision`, { method: "POST", json: { decision: "reject", call: 2, comment: "no thanks" } });
    expect(no.status).toBe(200);
    const twice = await api(`/runs/${run.run_id}/steps/1/decision`, { method: "POST", json: { decision: "reject", call: 2 } });
    expect(twice.status).toBe(409);
    const done = await waitForRun(run.run_id);
    expect(done.status).toBe("completed");
    const second = (await scriptRecord(modelUrl, model)).requests.find((r) => r.turn === 1)!;
    expect(JSON.stringify(second.messages)).toContain("rejected by a person: no thanks");
    const rows = await env.DB.prepare("SELECT title FROM todos WHERE title LIKE ?").bind(`%${model0}`).all<{ title: string }>();
    expect(rows.results.map((r) => r.title)).toEqual([`approved ${model0}`]);
  });

  it("repairs an answer that does not match output_schema once", async () => {
    const model = await script([{ text: "fifty" }, { text: '{"n": 50}' }]);
    const run = await startAgent({ goal: "a number", model, output_schema: { type: "object", properties: { n: { type: "number" } }, required: ["n"] } });
    const done = await waitForRun(run.run_id);
    expect(done.status).toBe("completed");
    expect(done.execution_log[0]!.output).toMatchObject({ answer: { n: 50 }, turns: 2 });
  });

  it("undoes the todo an agent added when the run fails", async () => {
    const title = `undo me ${uniq()}`;
    const model = await script([{ tool_calls: [call("TodoStore.add", { title })] }, { tool_calls: [call("TodoStore.add", { title: `${title} too` })] }]);
    const run = await startAgent({ goal: "add todos", model, max_turns: 1 });
    const done = await waitForRun(run.run_id, (r) => r.status === "failed" && r.compensation?.status === "completed");
    expect(done.compensation!.steps.map((u) => [u.step_number, u.call, u.tool, u.status])).toEqual([[1, 1, "TodoStore.delete", "succeeded"]]);
    const rows = await env.DB.prepare("SELECT count(*) AS n FROM todos WHERE title = ? AND deleted_at IS NULL").bind(title).first<{ n: number }>();
    expect(rows!.n).toBe(0);
  });

  it("retries a model call the server refused with 429, and records both attempts", async () => {
    const model = await script([[{ error: { status: 429, retry_after: "0" } }, { text: "fine" }]]);
    const run = await startAgent({ goal: "hello", model }, { retry: { max_attempts: 3, initial_delay_ms: 10, max_delay_ms: 20 } });
    const done = await waitForRun(run.run_id);
    expect(done.status).toBe("completed");
    expect(done.execution_log[0]!.turns![0]!.attempts).toBe(2);
    expect((await scriptRecord(modelUrl, model)).calls).toEqual({ "0": 2 });
  });

  it("runs a nested agent as a child run when Agent.run is listed, and gives its answer to the model", async () => {
    const child = await script([{ tool_calls: [call("Calculator.evaluate", { expression: "6*7" })] }, { text: "the child says 42" }]);
    const parent = await script([
      { tool_calls: [call("Agent.run", { goal: "work out 6*7", model: child, tools: ["Calculator.evaluate"] })] },
      { text: "done: 42" },
    ]);
    const run = await startAgent({ goal: "delegate the sum", model: parent, tools: ["Agent.run"] });
    const done = await waitForRun(run.run_id);
    expect(done.status).toBe("completed");
    expect(done.execution_log[0]!.output).toMatchObject({ answer: "done: 42", turns: 2, tool_calls: 1 });
    expect(done.children).toHaveLength(1);
    const [link] = done.children;
    expect(link).toMatchObject({ step: 1, call: 1, status: "completed" });
    const kid = await getRun(link!.run_id);
    expect(kid.parent_run_id).toBe(run.run_id);
    expect(kid.execution_log[0]).toMatchObject({ tool: "Agent.run", output: { answer: "the child says 42", turns: 2 } });
    // The parent's second model call saw the child's answer as the Agent.run call's result.
    const second = (await scriptRecord(modelUrl, parent)).requests.find((r) => r.turn === 1)!;
    expect(second.messages.at(-1)).toMatchObject({ role: "tool" });
    expect(JSON.stringify(second.messages.at(-1))).toContain("the child says 42");
    expect(JSON.stringify(second.messages.at(-1))).toContain(link!.run_id);
    // Each model call was made once, the child's included.
    expect((await scriptRecord(modelUrl, child)).calls).toEqual({ "0": 1, "1": 1 });
  });

  it("counts a nested agent's spend against the calling step's budget, and caps the child's budget at what is left", async () => {
    const usage = { prompt_tokens: 300, completion_tokens: 100 };
    const child = await script([
      { tool_calls: [call("Calculator.evaluate", { expression: "6*7" })], usage },
      { text: "42", usage },
    ]);
    const parent = await script([
      { tool_calls: [call("Agent.run", { goal: "work out 6*7", model: child, tools: ["Calculator.evaluate"], budget: { max_tokens: 100_000 } })], usage },
      { text: "done", usage },
    ]);
    const budget = 5000;
    const run = await startAgent({ goal: "delegate", model: parent, tools: ["Agent.run"], budget: { max_tokens: budget } });
    const done = await waitForRun(run.run_id);
    expect(done.status).toBe("completed");
    const kid = await getRun(done.children[0]!.run_id);
    // The child asked for 100,000 tokens; it got what the step had left after its first call.
    expect(kid.execution_log[0]!.input).toMatchObject({ budget: { max_tokens: budget - 400 } });
    // The child's two calls (800 tokens) are the step's too: in its usage, and in the budget its last call was checked against.
    expect(kid.execution_log[0]!.usage).toEqual({ input_tokens: 600, output_tokens: 200, cost_usd: 0 });
    expect(done.execution_log[0]!.usage).toEqual({ input_tokens: 1200, output_tokens: 400, cost_usd: 0 });
    expect((done.execution_log[0]!.output as { usage: unknown }).usage).toEqual({ input_tokens: 1200, output_tokens: 400, cost_usd: 0 });
    const last = (await scriptRecord(modelUrl, parent)).requests.at(-1)!;
    expect(last.max_tokens!).toBeLessThanOrEqual(budget - 400 - 800);
    // GET …/usage counts the run's own model calls; the child's are on its own run.
    const own = (await (await api(`/runs/${run.run_id}/usage`)).json()) as { llm: { calls: number; input_tokens: number } };
    expect(own.llm).toMatchObject({ calls: 2, input_tokens: 600 });
    const types = (await (await api(`/runs/${run.run_id}/events?limit=1000`)).json()) as { events: { type: string; data: Record<string, unknown> }[] };
    expect(types.events.find((e) => e.type === "agent.nested_usage")?.data).toMatchObject({ step: 1, call: 1, input_tokens: 600, output_tokens: 200 });
  });

  it("tells an agent at MAX_RUN_DEPTH that its nested agent would be too deep, and goes on", async () => {
    const child = await script([{ text: "should never run" }]);
    const model = await script([{ tool_calls: [call("Agent.run", { goal: "nest", model: child })] }, { text: "too deep, so I stop" }]);
    // Five levels of Run.start around an agent: the agent runs at depth 5, the limit, so its child would be 6.
    let plan: unknown = { steps: [{ step_number: 1, tool: "Agent.run", input: { goal: "nest once more", model, tools: ["Agent.run"] } }] };
    for (let i = 0; i < 5; i++) plan = { steps: [{ step_number: 1, tool: "Run.start", input: { plan } }] };
    const res = await api("/runs", { method: "POST", json: { plan } });
    expect(res.status, await res.clone().text()).toBe(201);
    const top = await waitForRun(((await res.json()) as { run_id: string }).run_id);
    expect(top.status).toBe("completed");
    let run = top;
    for (let depth = 0; depth < 5; depth++) run = await getRun(run.children[0]!.run_id);
    expect(run.children).toEqual([]);
    expect(run.execution_log[0]!.output).toMatchObject({ answer: "too deep, so I stop" });
    expect(run.execution_log[0]!.turns![0]!.calls[0]).toMatchObject({ tool: "Agent.run", status: "failed", error: { code: "run_depth_exceeded" } });
    expect((await scriptRecord(modelUrl, child)).calls).toEqual({});
  });

  it("never starts a nested agent unless Agent.run is listed by name", async () => {
    const child = await script([{ text: "should never run" }]);
    const parent = await script([{ tool_calls: [call("Agent.run", { goal: "nest", model: child })] }, { text: "could not nest" }]);
    const run = await startAgent({ goal: "try to nest", model: parent, tools: ["*"] });
    const done = await waitForRun(run.run_id);
    expect(done.status).toBe("completed");
    expect(done.execution_log[0]!.turns![0]!.calls[0]).toMatchObject({ tool: "Agent.run", status: "forbidden" });
    expect(done.children).toEqual([]);
    expect((await scriptRecord(modelUrl, child)).calls).toEqual({});
  });

  it("starts agents from POST /runs/batch, an item each, and answers a bad agent item in its place", async () => {
    const model = await script([{ text: "batched ✓" }]);
    const res = await api("/runs/batch", {
      method: "POST",
      json: { runs: [{ agent: { goal: "say hi", model }, idempotency_key: `b-${uniq()}` }, { agent: { goal: "", model } }, { prompt: "calculate 2+2" }] },
    });
    expect(res.status).toBe(207);
    const { results } = (await res.json()) as { results: ({ run_id: string } | { error: { code: string } })[] };
    expect(results[1]).toMatchObject({ error: { code: "validation_failed" } });
    expect(results[2]).toMatchObject({ status: "completed", result: 4 });
    const done = await waitForRun((results[0] as { run_id: string }).run_id);
    expect(done.status).toBe("completed");
    expect(done.execution_log[0]).toMatchObject({ tool: "Agent.run", output: { answer: "batched ✓", turns: 1 } });
  });
});

const model0 = uniq();

describe("an agent with a tenant's MCP tools", () => {
  it("offers the MCP tools its tools patterns name, and runs the model's call to one", async () => {
    const server = `srv${uniq().slice(0, 6)}`;
    const reg = await api("/mcp-servers", { method: "POST", json: { name: server, url: `${env.MCP_TEST_URL}/s/${server}/mcp` } });
    expect(reg.status, await reg.clone().text()).toBe(201);
    const model = await script([{ tool_calls: [call(`mcp.${server}.lookup`, { text: "crane" })] }, { text: "found it" }]);
    const run = await startAgent({ goal: "look crane up", model, tools: [`mcp.${server}.*`] });
    const done = await waitForRun(run.run_id);
    expect(done.status).toBe("completed");
    const first = (await scriptRecord(modelUrl, model)).requests[0]!;
    expect(first.tools.map((t) => t.name).some((n) => n.includes("lookup"))).toBe(true);
    expect(JSON.stringify(done.execution_log[0]!.turns![0]!.calls[0]!.output)).toContain("found crane");
  });
});

describe("a tenant's daily LLM cap", () => {
  it("holds under 20 concurrent agent steps: spend never passes the cap, and the rest wait until it is raised", async () => {
    const tenant = `cap-${uniq()}`;
    const { secret } = await newApiKey(tenant);
    const setCap = (usd: number) => api(`/admin/tenants/${tenant}/llm-budget`, { method: "PUT", json: { usd_per_day: usd }, key: ADMIN_TOKEN });
    const cap = 3;
    expect((await setCap(cap)).status).toBe(200);
    // priced-cap: $1000 per million in, $2000 out. Each call reserves its worst case (about $1.7
    // with this budget) and settles to what it cost (about $0.3), so only a few fit under $3.
    await registerScript(modelUrl, "priced-cap", [{ text: "done" }]);
    const ids: string[] = [];
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        const res = await api("/runs", {
          method: "POST",
          key: secret,
          json: { agent: { goal: "say done", model: "priced-cap", tools: ["Calculator.evaluate"], budget: { max_tokens: 1000 } } },
        });
        expect(res.status).toBe(201);
        ids.push(((await res.json()) as { run_id: string }).run_id);
      }),
    );
    const settled = async () => Promise.all(ids.map((id) => getRun(id, secret)));
    let runs = await settled();
    // Some complete; the others wait (between two looks at the cap, a call is briefly dispatched).
    await vi.waitFor(async () => {
      runs = await settled();
      expect(runs.filter((r) => r.status === "completed").length).toBeGreaterThan(0);
      expect(runs.filter((r) => r.status === "waiting").length).toBeGreaterThan(0);
    }, SETTLE);
    expect(runs.filter((r) => !["completed", "waiting", "running"].includes(r.status))).toEqual([]);
    const spent = () => runs.reduce((n, r) => n + (r.execution_log[0]!.usage?.cost_usd ?? 0), 0);
    expect(spent()).toBeLessThanOrEqual(cap);
    const waiting = runs.filter((r) => r.status === "waiting");
    expect(waiting.length).toBeGreaterThan(0);
    expect(waiting[0]!.execution_log[0]!.status).toBe("waiting");
    const status = (await (await api(`/admin/tenants/${tenant}/llm-budget`, { key: ADMIN_TOKEN })).json()) as { committed_usd: number };
    expect(status.committed_usd).toBeLessThanOrEqual(cap);
    // Raised: the waiting steps go on at their next look (LLM_BUDGET_RECHECK_MS, 1 s here).
    expect((await setCap(1000)).status).toBe(200);
    for (const id of ids) expect((await waitForRun(id, undefined, 20_000, secret)).status).toBe("completed");
  });
});
