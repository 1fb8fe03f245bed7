// Continuation (src/durable/run/domain/continuation.ts): the consumer whose report calls for the
// run's next work takes it in the reply and runs it, with no queue hop. The queue here is held (no
// consumer), so whatever goes by queue stays there unless the test delivers it: a run that
// completes from one delivery ran every later step by continuation. Handing work over is its
// pre-flight: a copy sent later by the alarm is turned away, so a model call or a side effect
// still happens once.
import { env } from "cloudflare:workers";
import { describe, expect, it, onTestFinished } from "vitest";
import type { RunUsageAnswer } from "../../src/durable/run/contract";
import type { ReportAnswer } from "../../src/execution/step-protocol";
import { todoAddImpl } from "../../src/tools/todo-store/execute";
import { api, createRun, getRun, uniq } from "../helpers";
import { advanceClock, deliver, deliverContinuing, events, executions, sentMessages, stub, watchdog } from "../held/harness";
import { scriptRecord } from "../llm/scripted-model-client";
import { agentMessages, lastOf, modelUrl, script } from "./agent-messages";

/** Requests to the run's own object: its total less those to shared objects (the tenant's slot). */
const own = (u: RunUsageAnswer) => u.do_requests - Object.values(u.shared_requests).reduce((a, b) => a + (b ?? 0), 0);
const usage = async (runId: string) => (await (await api(`/runs/${runId}/usage`)).json()) as RunUsageAnswer;
const count = async (runId: string, type: string) => (await events(runId)).filter((e) => e.type === type).length;
const add = (title: string) => ({ name: "TodoStore.add", arguments: { title } });

describe("continuation: a consumer runs the work its report calls for", () => {
  it("runs a whole agent loop from its first message: two requests to the run object per turn, one queue message in all", async () => {
    const adds = executions(todoAddImpl);
    const model = await script([{ tool_calls: [add(`a ${uniq()}`)] }, { tool_calls: [add(`b ${uniq()}`)] }, { text: "done" }], "cont");
    const run = await createRun({ agent: { goal: "add two todos", model, tools: ["TodoStore.add"] } });
    const before = await usage(run.run_id);
    await deliverContinuing(await lastOf(run.run_id, "LLM.call"));

    const done = await getRun(run.run_id);
    expect(done.status).toBe("completed");
    expect((done.result as { answer: string }).answer).toBe("done");
    expect((await scriptRecord(modelUrl, model)).calls).toEqual({ "0": 1, "1": 1, "2": 1 });
    expect(adds(run.run_id)).toBe(2);
    const after = await usage(run.run_id);
    // Only the first model call went by queue: the other four units of work were handed over.
    expect(after.queued_attempts).toBe(before.queued_attempts);
    expect((await agentMessages(run.run_id)).length).toBe(5);
    // The first call's pre-flight and its input (the test's message carries none), then one report
    // per unit of work: 2 per tool turn and 1 for the answer; and the answer's streamed text.
    const deltas = await count(run.run_id, "llm.delta");
    expect(own(after) - own(before)).toBeLessThanOrEqual(2 + 2 * 2 + 1 + deltas);
    // Handing a model call over recorded it as begun: the two handed over, and the first, by its pre-flight.
    expect(await count(run.run_id, "llm.call_began")).toBe(3);
    // Nobody watched: only the call sent as the run was created (its client may connect right after) streamed.
    expect((await scriptRecord(modelUrl, model)).requests.map((r) => r.stream)).toEqual([true, false, false]);
  });

  it("streams every model call of a run a client is watching", async () => {
    const model = await script([{ tool_calls: [add(`w ${uniq()}`)] }, { text: "done" }], "cont");
    const run = await createRun({ agent: { goal: "add a todo", model, tools: ["TodoStore.add"] } });
    const res = await api(`/runs/${run.run_id}/ws`, { headers: { upgrade: "websocket" } });
    expect(res.status).toBe(101);
    const ws = res.webSocket!;
    ws.accept();
    onTestFinished(() => ws.close());
    await deliverContinuing(await lastOf(run.run_id, "LLM.call"));
    expect((await getRun(run.run_id)).status).toBe("completed");
    expect((await scriptRecord(modelUrl, model)).requests.map((r) => r.stream)).toEqual([true, true]);
  });

  it("runs a plan's next step where its dependency reported, and a duplicate delivery still runs each step once", async () => {
    const adds = executions(todoAddImpl);
    const run = await createRun({
      plan: {
        steps: [
          { step_number: 1, tool: "TodoStore.add", input: { title: `first ${uniq()}` }, depends_on: [] },
          { step_number: 2, tool: "TodoStore.add", input: { title: `second ${uniq()}` }, depends_on: [1] },
        ],
      },
    });
    const [first] = await sentMessages(run.run_id);
    const before = await usage(run.run_id);
    await deliverContinuing(first!, first!);
    expect((await getRun(run.run_id)).status).toBe("completed");
    expect(adds(run.run_id)).toBe(2);
    expect((await sentMessages(run.run_id)).map((m) => m.step)).toEqual([1, 2]);
    expect((await usage(run.run_id)).queued_attempts).toBe(before.queued_attempts);
  });

  it("turns away a copy of a handed-over model call: the call is made once, by the consumer holding it", async () => {
    const model = await script([{ tool_calls: [add(`c ${uniq()}`)] }, { text: "done" }], "cont");
    const run = await createRun({ agent: { goal: "add a todo", model, tools: ["TodoStore.add"] } });
    await deliver(await lastOf(run.run_id, "LLM.call"));
    const call = await lastOf(run.run_id, "TodoStore.add");
    // The tool call's consumer reports (the test stands in for it) and takes turn 2's model call.
    const answer = (await stub(run.run_id).report(
      [{ step: 1, dispatch: call.dispatch, outcome: { success: true, output: { id: 1 } } }],
      1,
    )) as unknown as ReportAnswer;
    expect(answer.results).toEqual([{ accepted: true }]);
    expect(answer.next).toHaveLength(1);
    const granted = answer.next[0]!;
    expect(granted).toMatchObject({ tool: "LLM.call", granted: true, attempt: 1 });
    // Recorded as begun as it was handed over, in the same command.
    expect(await count(run.run_id, "llm.call_began")).toBe(2);

    // The consumer holding it is slow; the alarm sends a copy at the resend time; the copy is refused.
    await advanceClock(run.run_id, 15_000);
    await watchdog(run.run_id);
    expect(await count(run.run_id, "step.resent")).toBe(1);
    await deliver({ ...granted, granted: undefined, copy: 1 });
    expect((await scriptRecord(modelUrl, model)).calls).toEqual({ "0": 1 });

    // The holder runs it: one call for turn 2, and the run completes.
    await deliverContinuing(granted);
    expect((await getRun(run.run_id)).status).toBe("completed");
    expect((await scriptRecord(modelUrl, model)).calls).toEqual({ "0": 1, "1": 1 });
  });

  it("turns away a copy of a handed-over tool call with side effects: the todo is written once", async () => {
    const adds = executions(todoAddImpl);
    const title = `e ${uniq()}`;
    // Turn 1 is answered by the test below, not by the model: the model is asked for turn 2 only.
    const model = await script([{ text: "not asked" }, { text: "done" }], "cont");
    const run = await createRun({ agent: { goal: "add a todo", model, tools: ["TodoStore.add"] } });
    const first = await lastOf(run.run_id, "LLM.call");
    // The model call's consumer (the test stands in for it) reports a tool call and takes it.
    expect(await stub(run.run_id).preflight(first.step, first.dispatch)).toEqual({ go: true });
    const result = {
      text: "",
      tool_calls: [{ id: "call_1", name: "TodoStore.add", input: { title } }],
      usage: { input_tokens: 1, output_tokens: 1 },
      usage_estimated: false,
      finish_reason: "tool_calls",
    };
    const answer = (await stub(run.run_id).report(
      [{ step: 1, dispatch: first.dispatch, outcome: { success: true, output: result } }],
      4,
    )) as unknown as ReportAnswer;
    expect(answer.results).toEqual([{ accepted: true }]);
    expect(answer.next.map((m) => [m.tool, m.granted])).toEqual([["TodoStore.add", true]]);
    const granted = answer.next[0]!;
    // A duplicate of it asks its pre-flight and is refused; the holder runs it, once.
    expect(await stub(run.run_id).preflight(granted.step, granted.dispatch)).toEqual({ go: false, reason: "already_started" });
    await deliver({ ...granted, granted: undefined, copy: 1 });
    expect(adds(run.run_id)).toBe(0);
    await deliverContinuing(granted);
    expect(adds(run.run_id)).toBe(1);
    expect((await getRun(run.run_id)).status).toBe("completed");
    const rows = await env.DB.prepare("SELECT count(*) AS n FROM todos WHERE title = ?").bind(title).first<{ n: number }>();
    expect(rows!.n).toBe(1);
  });
});
