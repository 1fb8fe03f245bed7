// A resumed family end to end, in workerd: a parent whose child failed (its Http.get met a 500 from
// the local upstream) ends failed; once the upstream is healthy, resuming the parent starts a new
// child (a new run id: the step's generation is part of the child's key), which runs, and the
// parent completes. Had the resume found the failed child again, the parent would fail again at
// once. The test plays the queue for the children's Http.get steps.
import { describe, expect, inject, it } from "vitest";
import { api, createRun, getRun, uniq, waitForRun } from "../helpers";
import { deliver, eventTypes, sentMessages } from "./harness";

const upstream = inject("upstreamUrl");

const hits = async (path: string) => ((await (await fetch(`${upstream}/hits${path}`)).json()) as { hits: number }).hits;

/** Delivers the child's queued step (its only message so far) and waits for the child to end. */
async function runChild(childId: string) {
  const messages = await sentMessages(childId);
  expect(messages).toHaveLength(1);
  await deliver(...messages);
  return waitForRun(childId);
}

describe("resuming a parent whose child failed", () => {
  it("starts a new child once the cause is fixed, and the parent completes", async () => {
    // The first request answers 500, every later one 200: the cause is fixed after the first child.
    const path = `/flaky/family-${uniq()}`;
    const child = {
      plan: { steps: [{ step_number: 1, tool: "Http.get", input: { url: `${upstream}${path}?fail=1&status=500` } }] },
      options: { retry: { max_attempts: 1 } },
    };
    const parent = await createRun({
      plan: {
        steps: [
          { step_number: 1, tool: "Run.start", input: child },
          { step_number: 2, tool: "Calculator.evaluate", input: { expression: "{{steps.1.output.result.status}} + 1" }, depends_on: [1] },
        ],
      },
    });

    const first = (await waitForRun(parent.run_id, (r) => r.children.length === 1)).children[0]!.run_id;
    expect(await runChild(first)).toMatchObject({ status: "failed", error: { code: "upstream_error" }, parent_run_id: parent.run_id });
    const failed = await waitForRun(parent.run_id);
    expect(failed).toMatchObject({ status: "failed", error: { code: "child_failed", step_number: 1 } });
    expect(await hits(path)).toBe(1);

    const resumed = await api(`/runs/${parent.run_id}/resume`, { method: "POST" });
    expect(resumed.status, await resumed.clone().text()).toBe(200);
    const again = await waitForRun(parent.run_id, (r) => r.children.length === 2 || r.status !== "running");
    // A new child, not the failed one found again (which would have failed the parent at once).
    expect(again.children.map((c) => c.run_id)).toEqual([first, expect.not.stringMatching(first)]);
    const second = again.children[1]!.run_id;
    expect(await runChild(second)).toMatchObject({ status: "completed", result: { status: 200 }, parent_run_id: parent.run_id });

    const done = await waitForRun(parent.run_id);
    expect(done).toMatchObject({ status: "completed", result: 201, error: null });
    expect(done.execution_log[0]).toMatchObject({ status: "succeeded", output: { run_id: second, status: "completed" } });
    expect(done.children).toEqual([
      { run_id: first, step: 1, status: "failed" },
      { run_id: second, step: 1, status: "completed" },
    ]);
    // The first child stays as it ended; the upstream saw one request per child.
    expect((await getRun(first)).status).toBe("failed");
    expect(await hits(path)).toBe(2);
    expect((await eventTypes(parent.run_id)).filter((t) => t === "run.resumed")).toHaveLength(1);
  });
});
