// The agent loop as decisions: an Agent.run step's model calls and tool calls driven through the
// run's decider with a fixed clock, each call reported as its consumer would. What the loop sends
// the model is read from the model call's message (LLM.call), so these tests see what the model
// would see. The same loop against a real model server and queue is in test/agent/.
import { describe, expect, it } from "vitest";
import { recordDelta } from "../src/durable/run/domain/agent/deltas";
import { cancel, pause } from "../src/durable/run/domain/control";
import { fireDue, nextDeadline, report } from "../src/durable/run/domain/decide";
import { decideApproval } from "../src/durable/run/domain/human-input";
import type { Outcome, StepMessage } from "../src/execution/step-protocol";
import type { Json } from "../src/lib/json";
import { LEASE, RESEND, T0, at, options, Run } from "./decider-harness";

type Call = { tool: string; input: unknown };

function start(input: Record<string, unknown>, runOptions = options()): Run {
  const run = Run.create([{ step_number: 1, tool: "Agent.run", input }], runOptions);
  // The first advance starts the step, its first turn and its model call.
  run.command(T0, fireDue);
  return run;
}

const modelMessages = (run: Run) => run.sent.filter((m) => m.tool === "LLM.call");
const lastModel = (run: Run) => modelMessages(run).at(-1)!;
const toolMessages = (run: Run, tool: string) => run.sent.filter((m) => m.tool === tool);

/** The model answers its current call: text, tool calls, usage. */
function answer(run: Run, now: number, text: string, calls: Call[] = [], usage = { input_tokens: 100, output_tokens: 20 }) {
  const msg = lastModel(run);
  const output = {
    text,
    tool_calls: calls.map((c, i) => ({ id: `x${i}`, name: c.tool, input: c.input })),
    usage,
    usage_estimated: false,
    finish_reason: calls.length ? "tool_calls" : "stop",
  };
  return reportOn(run, now, msg, { success: true, output: output as Json });
}

const reportOn = (run: Run, now: number, msg: StepMessage, outcome: Outcome) =>
  run.command(now, (m) => report(m, [{ step: msg.step, dispatch: msg.dispatch, outcome }]));

/** The messages the model's current call carries, as the model receives them. */
const sentToModel = (run: Run) => (lastModel(run).input as { messages: { role: string; content: string }[] }).messages;

describe("the agent loop", () => {
  it("runs turns until the model answers: each turn sees the results of the one before", () => {
    const run = start({ goal: "multiply (2+3) by 10" });
    expect(modelMessages(run)).toHaveLength(1);
    expect(run.step(1).status).toBe("running");
    // Turn 1: an inline call, which ends in the same command, so turn 2's model call goes out at once.
    answer(run, at(100), "", [{ tool: "Calculator.evaluate", input: { expression: "2+3" } }]);
    expect(modelMessages(run)).toHaveLength(2);
    expect(sentToModel(run).at(-1)).toMatchObject({ role: "tool", content: "5" });
    answer(run, at(200), "", [{ tool: "Calculator.evaluate", input: { expression: "5*10" } }]);
    expect(sentToModel(run).at(-1)).toMatchObject({ role: "tool", content: "50" });
    const done = answer(run, at(300), "It is 50.");
    expect(done.events.map((e) => e.type)).toEqual(["llm.call_succeeded", "agent.finished", "step.succeeded", "run.completed"]);
    expect(run.step(1).output).toEqual({ answer: "It is 50.", turns: 3, tool_calls: 2, usage: { input_tokens: 300, output_tokens: 60, cost_usd: 0 } });
    expect(run.state.status).toBe("completed");
  });

  it("runs a turn's calls in parallel, within max_parallelism, and starts the next turn when all have ended", () => {
    const run = start({ goal: "fetch three pages", tools: ["Http.get"] }, options({ max_parallelism: 2 }));
    const urls = ["https://a.test/", "https://b.test/", "https://c.test/"];
    answer(
      run,
      at(100),
      "",
      urls.map((url) => ({ tool: "Http.get", input: { url } })),
    );
    expect(toolMessages(run, "Http.get")).toHaveLength(2);
    const [first, second] = toolMessages(run, "Http.get");
    // Each call acts under its own key, per (run, step, turn, call).
    expect(first!.idempotency_key).toBe("run_test:1:t1c1");
    expect(second!.idempotency_key).toBe("run_test:1:t1c2");
    reportOn(run, at(200), first!, { success: true, output: { status: 200, body: "a" } });
    expect(toolMessages(run, "Http.get")).toHaveLength(3);
    expect(modelMessages(run)).toHaveLength(1);
    reportOn(run, at(210), second!, { success: true, output: { status: 200, body: "b" } });
    reportOn(run, at(220), toolMessages(run, "Http.get")[2]!, { success: true, output: { status: 200, body: "c" } });
    expect(modelMessages(run)).toHaveLength(2);
    expect(sentToModel(run).filter((m) => m.role === "tool")).toHaveLength(3);
  });

  it("gives a call's failure to the model as its result, and goes on", () => {
    const run = start({ goal: "fetch a page", tools: ["Http.get"] });
    answer(run, at(100), "", [{ tool: "Http.get", input: { url: "https://a.test/" } }]);
    const [msg] = toolMessages(run, "Http.get");
    const out = reportOn(run, at(200), msg!, { success: false, error: { code: "upstream_rejected", message: "404 Not Found", retryable: false } });
    expect(out.events.map((e) => e.type)).toEqual(["agent.call_failed", "agent.turn_started", "llm.call_started"]);
    expect(sentToModel(run).at(-1)).toMatchObject({ role: "tool", content: "error upstream_rejected: 404 Not Found" });
    expect(run.step(1).status).toBe("running");
  });

  it("retries a call that failed retryably by the run's retry policy before the model hears of it", () => {
    const run = start({ goal: "fetch a page", tools: ["Http.get"] });
    answer(run, at(100), "", [{ tool: "Http.get", input: { url: "https://a.test/" } }]);
    const [msg] = toolMessages(run, "Http.get");
    reportOn(run, at(200), msg!, { success: false, error: { code: "upstream_error", message: "502", retryable: true } });
    expect(modelMessages(run)).toHaveLength(1);
    run.command(at(200 + 500), fireDue);
    expect(toolMessages(run, "Http.get")).toHaveLength(2);
    expect(toolMessages(run, "Http.get")[1]!.attempt).toBe(2);
  });

  it("never runs a tool the agent may not call, and tells the model so", () => {
    const run = start({ goal: "add a todo", tools: ["Calculator.evaluate"] });
    const out = answer(run, at(100), "", [{ tool: "TodoStore.add", input: { title: "x" } }]);
    expect(out.events.map((e) => e.type)).toContain("agent.call_forbidden");
    expect(toolMessages(run, "TodoStore.add")).toHaveLength(0);
    expect(sentToModel(run).at(-1)!.content).toContain("not an allowed tool");
  });

  it("never lets the model call a tool only the engine dispatches, even when its tools allow every name", () => {
    const run = start({ goal: "anything", tools: ["*"] });
    const out = answer(run, at(100), "", [{ tool: "LLM.call", input: { model: "x", system: "", messages: [], tools: [], max_tokens: 1 } }]);
    expect(out.events.find((e) => e.type === "agent.call_forbidden")?.data).toMatchObject({ tool: "LLM.call", reason: "there is no tool named LLM.call" });
    expect(modelMessages(run)).toHaveLength(2);
  });

  it("fails with max_turns_exceeded after max_turns, and makes no further model call", () => {
    const run = start({ goal: "loop", max_turns: 2 });
    answer(run, at(100), "", [{ tool: "Calculator.evaluate", input: { expression: "1+1" } }]);
    const out = answer(run, at(200), "", [{ tool: "Calculator.evaluate", input: { expression: "1+1" } }]);
    expect(out.events.map((e) => e.type)).toContain("agent.max_turns_exceeded");
    expect(run.step(1).status).toBe("failed");
    expect(run.step(1).error?.code).toBe("max_turns_exceeded");
    expect(modelMessages(run)).toHaveLength(2);
  });

  it("caps each call's output at the token budget left, and makes no call the budget cannot afford", () => {
    // One small tool, so the prompt's estimate stays small beside the budget.
    const run = start({ goal: "count", tools: ["Calculator.evaluate"], budget: { max_tokens: 2000 } });
    const first = lastModel(run).input as { max_tokens: number };
    // The cap is what is left once the prompt's estimate is counted.
    const prompt = 2000 - first.max_tokens;
    expect(prompt).toBeGreaterThan(0);
    const used = Math.floor(first.max_tokens / 2);
    answer(run, at(100), "", [{ tool: "Calculator.evaluate", input: { expression: "1+1" } }], { input_tokens: prompt, output_tokens: used });
    expect(modelMessages(run)).toHaveLength(2);
    const second = lastModel(run).input as { max_tokens: number };
    expect(second.max_tokens).toBeLessThanOrEqual(2000 - prompt - used - prompt);
    // The second call used nearly all that was left: a third cannot be afforded, so it is not made.
    const out = answer(run, at(200), "", [{ tool: "Calculator.evaluate", input: { expression: "2+2" } }], {
      input_tokens: prompt + 10,
      output_tokens: second.max_tokens - 20,
    });
    expect(out.events.map((e) => e.type)).toContain("agent.budget_exceeded");
    expect(modelMessages(run)).toHaveLength(2);
    expect(run.step(1).error?.code).toBe("budget_exceeded");
  });

  it("holds a dollar budget the same way, priced from the run's price table, and reserves the worst case", () => {
    const run = start({ goal: "count", tools: ["Calculator.evaluate"], model: "priced-model", budget: { max_cost_usd: 0.5 } });
    const input = lastModel(run).input as { max_tokens: number; reservation_usd: number; reservation_key: string };
    // $100/M in, $200/M out: whatever the prompt costs, the output cap fits what is left of $0.50.
    expect(input.max_tokens).toBeLessThanOrEqual(2500);
    expect(input.reservation_usd).toBeGreaterThan(0);
    expect(input.reservation_usd).toBeLessThanOrEqual(0.5);
    expect(input.reservation_key).toBe("run_test:1:1:a1");
    // A failed call is settled to what it cost; its retry holds back its own worst case under a key of its own.
    reportOn(run, at(50), lastModel(run), { success: false, error: { code: "upstream_error", message: "502", retryable: true } });
    run.command(at(50 + 500), fireDue);
    expect((lastModel(run).input as { reservation_key: string }).reservation_key).toBe("run_test:1:1:a2");
    answer(run, at(600), "done", [], { input_tokens: 100, output_tokens: 50 });
    expect(run.step(1).output).toMatchObject({ usage: { cost_usd: 0.02 } });
  });

  it("waits for a person on a call in approve: approve runs it, reject tells the model", () => {
    const run = start({ goal: "add two todos", approve: ["TodoStore.add"] });
    answer(run, at(100), "", [
      { tool: "TodoStore.add", input: { title: "first" } },
      { tool: "TodoStore.add", input: { title: "second" } },
    ]);
    expect(run.step(1).status).toBe("waiting");
    expect(run.state.status).toBe("waiting");
    expect(toolMessages(run, "TodoStore.add")).toHaveLength(0);
    const approved = run.command(at(200), (m) => decideApproval(m, 1, { decision: "approve", comment: null, by: "key_person", call: 1 }));
    expect(approved.result).toEqual({ ok: true });
    expect(toolMessages(run, "TodoStore.add")).toHaveLength(1);
    expect(run.step(1).status).toBe("running");
    const again = run.command(at(210), (m) => decideApproval(m, 1, { decision: "reject", comment: null, by: "key_person", call: 1 }));
    expect(again.result).toMatchObject({ ok: false, code: "step_not_waiting" });
    run.command(at(220), (m) => decideApproval(m, 1, { decision: "reject", comment: "not that one", by: "key_person", call: 2 }));
    reportOn(run, at(300), toolMessages(run, "TodoStore.add")[0]!, { success: true, output: { todo: { id: 7, title: "first" } } });
    expect(modelMessages(run)).toHaveLength(2);
    expect(sentToModel(run).at(-1)!.content).toBe("rejected by a person: not that one");
  });

  it("asks once for a repair of an answer that does not match output_schema, then fails with invalid_output", () => {
    const schema = { type: "object", properties: { n: { type: "number" } }, required: ["n"] };
    const ok = start({ goal: "a number", output_schema: schema });
    answer(ok, at(100), "fifty");
    expect(modelMessages(ok)).toHaveLength(2);
    expect(sentToModel(ok).at(-1)).toMatchObject({ role: "user" });
    answer(ok, at(200), '```json\n{"n": 50}\n```');
    expect(ok.step(1).output).toMatchObject({ answer: { n: 50 }, turns: 2 });

    const bad = start({ goal: "a number", output_schema: schema });
    answer(bad, at(100), "fifty");
    answer(bad, at(200), '{"n": "fifty"}');
    expect(bad.step(1).error?.code).toBe("invalid_output");
    expect(modelMessages(bad)).toHaveLength(2);
  });

  it("undoes the calls an agent made when the run fails, newest first, with each call's own output", () => {
    const run = start({ goal: "add todos", max_turns: 2 });
    answer(run, at(100), "", [{ tool: "TodoStore.add", input: { title: "a" } }]);
    reportOn(run, at(150), toolMessages(run, "TodoStore.add")[0]!, { success: true, output: { todo: { id: 41, title: "a" } } });
    answer(run, at(200), "", [{ tool: "TodoStore.add", input: { title: "b" } }]);
    const out = reportOn(run, at(250), toolMessages(run, "TodoStore.add")[1]!, { success: true, output: { todo: { id: 42, title: "b" } } });
    expect(out.events.map((e) => e.type)).toContain("agent.max_turns_exceeded");
    expect(run.state.compensation?.steps.map((u) => [u.step_number, u.call, u.tool])).toEqual([
      [1, 2, "TodoStore.delete"],
      [1, 1, "TodoStore.delete"],
    ]);
    const [undo] = toolMessages(run, "TodoStore.delete");
    expect(undo!.input).toMatchObject({ id: 42 });
    expect(undo!.idempotency_key).toBe("run_test:1:t2c2:undo");
    reportOn(run, at(300), undo!, { success: true, output: { deleted: true } });
    expect(toolMessages(run, "TodoStore.delete")[1]!.input).toMatchObject({ id: 41 });
  });

  it("ignores a second report of a model call: the answer recorded is the only one", () => {
    const run = start({ goal: "hello" });
    const msg = lastModel(run);
    answer(run, at(100), "", [{ tool: "Calculator.evaluate", input: { expression: "1+1" } }]);
    const before = run.log.length;
    const dup = reportOn(run, at(110), msg, {
      success: true,
      output: { text: "other", tool_calls: [], usage: { input_tokens: 1, output_tokens: 1 }, usage_estimated: false, finish_reason: "stop" },
    });
    expect(dup.result).toEqual([{ accepted: false, reason: "not_running" }]);
    expect(run.log.length).toBe(before);
  });

  it("retries a model call whose lease passed, with the same messages", () => {
    const run = start({ goal: "hello" });
    const first = lastModel(run);
    run.command(at(LEASE), fireDue);
    run.command(at(LEASE + 1000), fireDue);
    const second = lastModel(run);
    expect(second.dispatch).not.toBe(first.dispatch);
    expect(second.input).toEqual(first.input);
  });

  it("puts off a model call's resend while the step queue still holds a message sent before it, then sends the copy", () => {
    const run = start({ goal: "hello" });
    const first = lastModel(run);
    // The watchdog looked at the queue: its oldest message was sent as the run began.
    const queue = { oldest: T0, received: () => false };
    const out = run.command(at(RESEND), (m) => fireDue({ ...m, queue }));
    expect(out.events.map((e) => e.type)).toEqual(["step.resend_postponed"]);
    expect(out.sent).toEqual([]);
    // The model call's resend time moved (as long again as that message had waited): nothing is due in between.
    expect(run.command(at(2 * RESEND - 1), (m) => fireDue({ ...m, queue })).events).toEqual([]);
    const later = run.command(at(2 * RESEND), (m) => fireDue({ ...m, queue: { oldest: at(1), received: () => false } }));
    expect(later.events.map((e) => e.type)).toEqual(["step.resent"]);
    expect(lastModel(run)).toMatchObject({ dispatch: first.dispatch, copy: 1 });
  });

  it("sends a model call's message again at its resend time, as the same dispatch with the same messages", () => {
    const run = start({ goal: "hello" });
    const first = lastModel(run);
    const out = run.command(at(RESEND), fireDue);
    expect(out.events.map((e) => e.type)).toEqual(["step.resent"]);
    const copy = lastModel(run);
    expect(copy).toMatchObject({ dispatch: first.dispatch, attempt: 1, copy: 1 });
    expect(copy.input).toEqual(first.input);
    // The copy's report counts like the original's would.
    answer(run, at(RESEND + 100), "hi");
    expect(run.step(1).status).toBe("succeeded");
  });

  it("keeps watching a model call's lease while the run is paused, and starts no retry until it is resumed", () => {
    const run = start({ goal: "hello" });
    run.command(at(10), (m) => pause(m, "a look"));
    // The call in flight is still watched: a lost message is still lost.
    expect(nextDeadline(run.state, at(10))).toBe(at(RESEND));
    run.command(at(LEASE), fireDue);
    run.command(at(LEASE + 1), fireDue);
    // Its retry is due, but a paused run starts nothing, and a due retry that cannot start wakes nobody.
    expect(modelMessages(run).filter((m) => m.attempt === 2)).toHaveLength(0);
    const next = nextDeadline(run.state, at(LEASE + 5000));
    expect(next === null || next > at(LEASE + 5000)).toBe(true);
  });

  it("on cancel with compensate, waits for a queued call in flight, then undoes it", () => {
    const run = start({ goal: "add a todo" });
    answer(run, at(100), "", [{ tool: "TodoStore.add", input: { title: "a" } }]);
    run.command(at(150), (m) => cancel(m, "stop", true));
    expect(run.step(1).status).toBe("running");
    reportOn(run, at(200), toolMessages(run, "TodoStore.add")[0]!, { success: true, output: { todo: { id: 41, title: "a" } } });
    expect(run.step(1).status).toBe("skipped");
    expect(modelMessages(run)).toHaveLength(1);
    expect(toolMessages(run, "TodoStore.delete")[0]!.input).toMatchObject({ id: 41 });
  });
});

describe("streamed text", () => {
  it("records a running model call's deltas, and drops one that comes after its answer", () => {
    const run = start({ goal: "write" });
    const msg = lastModel(run);
    run.command(at(50), (m) => recordDelta(m, 1, msg.dispatch, "Hel"));
    run.command(at(150), (m) => recordDelta(m, 1, msg.dispatch, "lo"));
    expect(run.step(1).agent!.turns[0]!.text).toBe("Hello");
    answer(run, at(200), "Hello, world");
    const late = run.command(at(210), (m) => recordDelta(m, 1, msg.dispatch, "!"));
    expect(late.events).toEqual([]);
    expect(run.log.filter((e) => e.type === "llm.delta").map((e) => (e.data as { text: string }).text)).toEqual(["Hel", "lo"]);
    expect(run.step(1).output).toMatchObject({ answer: "Hello, world" });
  });
});
