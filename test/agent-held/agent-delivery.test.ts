// An agent's model calls and tool calls as queue messages the test delivers itself (the "held"
// queue): duplicated, lost, late. A model call whose answer is recorded is never made again (the
// scripted model server counts calls per turn), and a tool call's effect happens once.
import { evictDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { todoAddImpl } from "../../src/tools/todo-store/execute";
import { api, createRun, getRun, uniq, waitForRun } from "../helpers";
import { advanceClock, deliver, events, executions, stub, watchdog } from "../held/harness";
import { scriptRecord } from "../llm/scripted-model-client";
import { agentMessages, lastOf, modelUrl, script } from "./agent-messages";

const agent = (input: Record<string, unknown>) => createRun({ agent: input });

describe("an agent's work under duplicate, lost and late deliveries", () => {
  it("makes a model call once when its message is delivered twice", async () => {
    const model = await script([{ text: "hello" }]);
    const run = await agent({ goal: "say hello", model });
    const msg = await lastOf(run.run_id, "LLM.call");
    await deliver(msg, msg);
    expect((await getRun(run.run_id)).status).toBe("completed");
    expect((await scriptRecord(modelUrl, model)).calls).toEqual({ "0": 1 });
    // Delivered again after its answer was recorded: refused before the model is asked.
    await deliver(msg);
    expect((await scriptRecord(modelUrl, model)).calls).toEqual({ "0": 1 });
  });

  it("never makes a model call twice across a restart of the run object: its pre-flight is in the log", async () => {
    const model = await script([{ text: "hello" }]);
    const run = await agent({ goal: "say hello", model });
    const msg = await lastOf(run.run_id, "LLM.call");
    // A consumer took the message and is calling the model when the object restarts (its memory
    // is gone, its log is not); the message is then delivered again.
    expect(await stub(run.run_id).preflight(msg.step, msg.dispatch)).toEqual({ go: true });
    await evictDurableObject(stub(run.run_id));
    expect(await stub(run.run_id).preflight(msg.step, msg.dispatch)).toEqual({ go: false, reason: "already_started" });
    await deliver(msg);
    expect((await scriptRecord(modelUrl, model)).calls).toEqual({});
    // The call cut off by the crash is made again as a new attempt once its lease has passed.
    await advanceClock(run.run_id, 10 * 60_000);
    await watchdog(run.run_id);
    await advanceClock(run.run_id, 11 * 60_000);
    await watchdog(run.run_id);
    const again = await lastOf(run.run_id, "LLM.call");
    expect(again.attempt).toBe(2);
    await deliver(again);
    const done = await getRun(run.run_id);
    expect(done.status).toBe("completed");
    expect(done.execution_log[0]!.turns![0]!.attempts).toBe(2);
    expect((await scriptRecord(modelUrl, model)).calls).toEqual({ "0": 1 });
  });

  it("makes a model call once when its message arrives late, twice: the lease is renewed, the call recorded as begun", async () => {
    const model = await script([{ text: "hello" }]);
    const run = await agent({ goal: "say hello", model });
    const msg = await lastOf(run.run_id, "LLM.call");
    // It waited behind a backlog until half its timeout was left of its lease: the run object's clock at the same point.
    await advanceClock(run.run_id, msg.lease_until - msg.timeout_ms / 2 - Date.now());
    const late = { ...msg, lease_until: Date.now() + msg.timeout_ms / 2 };
    await deliver(late, late);
    const done = await getRun(run.run_id);
    expect(done.status).toBe("completed");
    expect(done.execution_log[0]!.turns![0]!.attempts).toBe(1);
    expect((await scriptRecord(modelUrl, model)).calls).toEqual({ "0": 1 });
    const types = (await events(run.run_id)).map((e) => e.type);
    expect(types.filter((t) => t === "step.lease_renewed")).toHaveLength(1);
    expect(types.filter((t) => t === "llm.call_began")).toHaveLength(1);
  });

  it("runs a tool call once when its message is delivered twice", async () => {
    const adds = executions(todoAddImpl);
    const title = `once ${uniq()}`;
    const model = await script([{ tool_calls: [{ name: "TodoStore.add", arguments: { title } }] }, { text: "added" }]);
    const run = await agent({ goal: "add a todo", model });
    await deliver(await lastOf(run.run_id, "LLM.call"));
    const add = await lastOf(run.run_id, "TodoStore.add");
    expect(add.idempotency_key).toBe(`${run.run_id}:1:t1c1`);
    await deliver(add, add);
    expect(adds(run.run_id)).toBe(1);
    await deliver(await lastOf(run.run_id, "LLM.call"));
    expect((await getRun(run.run_id)).status).toBe("completed");
    const rows = await env.DB.prepare("SELECT count(*) AS n FROM todos WHERE title = ?").bind(title).first<{ n: number }>();
    expect(rows!.n).toBe(1);
    expect((await scriptRecord(modelUrl, model)).calls).toEqual({ "0": 1, "1": 1 });
  });

  it("makes a model call again when its message was lost, as a second attempt, and never the answered ones", async () => {
    const model = await script([{ tool_calls: [{ name: "Calculator.evaluate", arguments: { expression: "6*7" } }] }, { text: "42" }]);
    const run = await agent({ goal: "6 times 7", model });
    await deliver(await lastOf(run.run_id, "LLM.call"));
    // Turn 2's message is lost (never delivered): its lease passes, and the watchdog sends it again.
    const lost = await lastOf(run.run_id, "LLM.call");
    await advanceClock(run.run_id, 10 * 60_000);
    await watchdog(run.run_id);
    await advanceClock(run.run_id, 11 * 60_000);
    await watchdog(run.run_id);
    const again = await lastOf(run.run_id, "LLM.call");
    expect(again.dispatch).not.toBe(lost.dispatch);
    expect(again.attempt).toBe(2);
    await deliver(again);
    const done = await getRun(run.run_id);
    expect(done.status).toBe("completed");
    expect(done.execution_log[0]!.turns![1]!.attempts).toBe(2);
    expect((await scriptRecord(modelUrl, model)).calls).toEqual({ "0": 1, "1": 1 });
  });

  it("makes no model call again on a rerun from a later step: the agent's answer is taken over", async () => {
    const model = await script([{ text: "21" }]);
    const run = await createRun({
      plan: {
        steps: [
          { step_number: 1, tool: "Agent.run", input: { goal: "pick a number", model } },
          { step_number: 2, tool: "Calculator.evaluate", input: { expression: "{{steps.1.output.answer}} * 2" }, depends_on: [1] },
        ],
      },
    });
    await deliver(await lastOf(run.run_id, "LLM.call"));
    expect((await getRun(run.run_id)).result).toBe(42);
    const res = await api(`/runs/${run.run_id}/rerun`, { method: "POST", json: { from_step: 2, input: { expression: "{{steps.1.output.answer}} * 3" } } });
    expect(res.status, await res.clone().text()).toBe(201);
    const rerun = (await res.json()) as { run_id: string };
    const done = await waitForRun(rerun.run_id);
    expect(done.status).toBe("completed");
    expect(done.result).toBe(63);
    expect((await agentMessages(rerun.run_id)).filter((m) => m.tool === "LLM.call")).toHaveLength(0);
    expect((await scriptRecord(modelUrl, model)).calls).toEqual({ "0": 1 });
  });
});
