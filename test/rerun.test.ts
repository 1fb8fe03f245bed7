// Rerun from a step: the new run takes over what does not depend on the step, and the proof that
// nothing before it ran twice is in the world outside the run: the todos in D1 and the requests
// the local upstream saw.
import { env } from "cloudflare:workers";
import { describe, expect, inject, it } from "vitest";
import type { RunResource } from "../src/durable/run/run-view";
import { api, createRun, errorOf, getRun, newApiKey, uniq, waitForRun } from "./helpers";

const upstream = inject("upstreamUrl");
const hits = async (path: string) => ((await (await fetch(`${upstream}/hits${path}`)).json()) as { hits: number }).hits;
const todosTitled = async (title: string) =>
  (await env.DB.prepare("SELECT count(*) AS n FROM todos WHERE title = ? AND deleted_at IS NULL").bind(title).first<{ n: number }>())!.n;

async function rerun(runId: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return api(`/runs/${runId}/rerun`, { method: "POST", json: body, headers });
}

async function rerunOk(runId: string, body: unknown): Promise<RunResource> {
  const res = await rerun(runId, body);
  const data = (await res.json()) as RunResource;
  expect(res.status, JSON.stringify(data)).toBe(201);
  return data;
}

const eventTypes = async (runId: string) =>
  ((await (await api(`/runs/${runId}/events?limit=1000`)).json()) as { events: { type: string; data: { step?: number } }[] }).events;

describe("POST /runs/{id}/rerun", () => {
  it("reruns from a middle step: what does not depend on it keeps its output and is not executed again", async () => {
    const k = uniq();
    const title = `rerun ${k}`;
    const original = await waitForRun(
      (
        await createRun({
          plan: {
            steps: [
              { step_number: 1, tool: "Http.get", input: { url: `${upstream}/flaky/a-${k}?fail=0` } },
              { step_number: 2, tool: "TodoStore.add", input: { title }, depends_on: [1] },
              { step_number: 3, tool: "Http.get", input: { url: `${upstream}/flaky/c-${k}?fail=0` }, depends_on: [2] },
              { step_number: 4, tool: "Calculator.evaluate", input: { expression: "{{steps.3.output.status}} + 1" }, depends_on: [3] },
              { step_number: 5, tool: "Http.get", input: { url: `${upstream}/flaky/e-${k}?fail=0` } },
            ],
          },
        })
      ).run_id,
    );
    expect(original.status).toBe("completed");
    expect([await hits(`/flaky/a-${k}`), await hits(`/flaky/c-${k}`), await hits(`/flaky/e-${k}`), await todosTitled(title)]).toEqual([1, 1, 1, 1]);

    const created = await rerunOk(original.run_id, { from_step: 3, input: { url: `${upstream}/flaky/c2-${k}?fail=0` } });
    expect(created.run_id).not.toBe(original.run_id);
    expect(created.rerun_of).toBe(original.run_id);
    const run = await waitForRun(created.run_id);
    expect(run.status).toBe("completed");
    expect(run.execution_log[3]!.output).toBe(201);

    // Steps 1, 2 and 5 (5 comes after 3 but does not depend on it) kept their outputs and ran no more.
    expect([await hits(`/flaky/a-${k}`), await hits(`/flaky/e-${k}`), await todosTitled(title)]).toEqual([1, 1, 1]);
    for (const n of [1, 2, 5]) {
      const [was, now] = [original.execution_log[n - 1]!, run.execution_log[n - 1]!];
      expect(now).toMatchObject({ status: "succeeded", attempts: 0, output: was.output, input: was.input });
    }
    // Step 3 ran again with the override, not as first planned; step 4 after it.
    expect([await hits(`/flaky/c-${k}`), await hits(`/flaky/c2-${k}`)]).toEqual([1, 1]);
    expect(run.execution_log[2]).toMatchObject({ status: "succeeded", attempts: 1, input: { url: `${upstream}/flaky/c2-${k}?fail=0` } });
    expect(run.execution_log[3]).toMatchObject({ status: "succeeded", attempts: 1, input: { expression: "200 + 1" } });

    const events = await eventTypes(run.run_id);
    const reused = events.filter((e) => e.type === "step.reused").map((e) => e.data.step);
    expect(reused).toEqual([1, 2, 5]);
    const started = events.filter((e) => e.type === "step.started").map((e) => e.data.step);
    expect(started.sort()).toEqual([3, 4]);
    // The reused steps were written with the run, before anything was dispatched.
    expect(events.findIndex((e) => e.type === "step.reused")).toBeLessThan(events.findIndex((e) => e.type === "step.started"));

    // The original is not touched.
    const after = await getRun(original.run_id);
    expect(after.last_event_seq).toBe(original.last_event_seq);
    expect(after.rerun_of).toBeNull();
  });

  it("reruns a failed run from its failed step; steps compensation undid run again", async () => {
    const k = uniq();
    const [kept, undone] = [`kept ${k}`, `undone ${k}`];
    const plan = (title: string) => ({
      steps: [
        { step_number: 1, tool: "TodoStore.add", input: { title } },
        { step_number: 2, tool: "Http.get", input: { url: `${upstream}/status/404?k=${k}` }, depends_on: [1] },
      ],
    });
    const stopped = await waitForRun((await createRun({ plan: plan(kept), options: { on_failure: "stop" } })).run_id);
    const compensated = await waitForRun((await createRun({ plan: plan(undone) })).run_id);
    expect([stopped.status, compensated.status]).toEqual(["failed", "failed"]);
    expect(compensated.compensation?.status).toBe("completed");

    const fixed = { from_step: 2, input: { url: `${upstream}/flaky/f-${k}?fail=0` } };
    const a = await waitForRun((await rerunOk(stopped.run_id, fixed)).run_id);
    expect(a).toMatchObject({ status: "completed", rerun_of: stopped.run_id, options: { on_failure: "stop" } });
    expect(a.execution_log[0]).toMatchObject({ attempts: 0, output: stopped.execution_log[0]!.output });
    expect(await todosTitled(kept)).toBe(1);

    // Its todo was deleted by compensation: reusing its output would point at nothing, so it is added again.
    const b = await waitForRun((await rerunOk(compensated.run_id, fixed)).run_id);
    expect(b.status).toBe("completed");
    expect(b.execution_log[0]).toMatchObject({ attempts: 1 });
    expect(await todosTitled(undone)).toBe(1);
    expect(await hits(`/flaky/f-${k}`)).toBe(2);
  });

  it("reruns a cancelled run, and honours an Idempotency-Key", async () => {
    const run = await createRun({ plan: { steps: [{ step_number: 1, tool: "Wait.sleep", input: { seconds: 3600 } }] } });
    expect((await api(`/runs/${run.run_id}/rerun`, { method: "POST", json: { from_step: 1 } })).status).toBe(409);
    expect((await api(`/runs/${run.run_id}/cancel`, { method: "POST" })).status).toBe(200);
    const key = `rerun-${uniq()}`;
    const first = await rerun(run.run_id, { from_step: 1, input: { seconds: 1 } }, { "idempotency-key": key });
    expect(first.status).toBe(201);
    const again = await rerun(run.run_id, { from_step: 1, input: { seconds: 1 } }, { "idempotency-key": key });
    expect(again.status).toBe(200);
    const [a, b] = [(await first.json()) as RunResource, (await again.json()) as RunResource];
    expect(b.run_id).toBe(a.run_id);
    const other = await rerun(run.run_id, { from_step: 1, input: { seconds: 2 } }, { "idempotency-key": key });
    expect(other.status).toBe(409);
    expect((await errorOf(other)).code).toBe("idempotency_conflict");
    expect(await waitForRun(a.run_id)).toMatchObject({ status: "completed", rerun_of: run.run_id });
  });

  it("refuses what it cannot do: a run in flight (409), a step out of range or a bad input (400), others' runs (404)", async () => {
    const running = await createRun({ plan: { steps: [{ step_number: 1, tool: "Wait.signal", input: { name: "go" } }] } });
    const r409 = await rerun(running.run_id, { from_step: 1 });
    expect(r409.status).toBe(409);
    expect((await errorOf(r409)).code).toBe("run_not_ended");
    await api(`/runs/${running.run_id}/cancel`, { method: "POST" });

    const done = await createRun({ plan: { steps: [{ step_number: 1, tool: "Calculator.evaluate", input: { expression: "2 + 2" } }] } });
    const out = await rerun(done.run_id, { from_step: 2 });
    expect(out.status).toBe(400);
    expect((await errorOf(out)).code).toBe("invalid_from_step");
    const bad = await rerun(done.run_id, { from_step: 1, input: { expression: 42 } });
    expect(bad.status).toBe(400);
    expect(await errorOf(bad)).toMatchObject({ code: "invalid_plan", details: [expect.objectContaining({ code: "invalid_input", step_number: 1 })] });
    for (const body of [{}, { from_step: 0 }, { from_step: 1, extra: true }]) expect((await rerun(done.run_id, body)).status).toBe(400);

    const stranger = await newApiKey(`other-${uniq()}`);
    const theirs = await api(`/runs/${done.run_id}/rerun`, { method: "POST", json: { from_step: 1 }, key: stranger.secret });
    expect(theirs.status).toBe(404);
    expect((await errorOf(theirs)).code).toBe("run_not_found");
    expect((await rerun("run_nope", { from_step: 1 })).status).toBe(404);
    expect((await rerun(`run_${"0".repeat(32)}`, { from_step: 1 })).status).toBe(404);

    const fine = await rerunOk(done.run_id, { from_step: 1, input: { expression: "3 + 3" } });
    expect(fine).toMatchObject({ status: "completed", result: 6, rerun_of: done.run_id });
  });
});
