// POST /runs/{id}/pause and /resume in workerd, with the test playing the queue: a step in flight
// when the run pauses finishes and is recorded, nothing after it starts, the resume starts it.
import { describe, expect, inject, it } from "vitest";
import { api, createRun, errorOf, getRun, newApiKey, uniq } from "../helpers";
import { deliver, projectedRow, sentMessages } from "./harness";

const upstream = inject("upstreamUrl");

describe("pause and resume", () => {
  it("finishes the step in flight, starts nothing new until the resume, then completes", async () => {
    const run = await createRun({
      plan: {
        steps: [
          { step_number: 1, tool: "Http.get", input: { url: `${upstream}/ok?p=${uniq()}` } },
          { step_number: 2, tool: "Http.get", input: { url: `${upstream}/ok?q=${uniq()}` }, depends_on: [1] },
        ],
      },
    });
    const res = await api(`/runs/${run.run_id}/pause`, { method: "POST" });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { status: string }).status).toBe("paused");
    expect(await projectedRow(run.run_id, "paused")).not.toBeNull();
    const listed = (await (await api("/runs?status=paused&limit=100")).json()) as { runs: { run_id: string }[] };
    expect(listed.runs.map((r) => r.run_id)).toContain(run.run_id);

    // Step 1 was in flight: it finishes and is recorded, and step 2 is not sent.
    await deliver(...(await sentMessages(run.run_id)));
    const paused = await getRun(run.run_id);
    expect(paused.status).toBe("paused");
    expect(paused.execution_log.map((s) => s.status)).toEqual(["succeeded", "pending"]);
    expect(await sentMessages(run.run_id)).toHaveLength(1);

    const resumed = await api(`/runs/${run.run_id}/resume`, { method: "POST" });
    expect(resumed.status).toBe(200);
    expect(((await resumed.json()) as { status: string }).status).toBe("running");
    const sent = await sentMessages(run.run_id);
    expect(sent.map((m) => m.step)).toEqual([1, 2]);
    await deliver(sent[1]!);
    expect((await getRun(run.run_id)).status).toBe("completed");
  });

  it("answers 409 for a run that has ended, and 404 for another tenant's run", async () => {
    const done = await createRun({ prompt: "calculate 2 + 2" });
    const res = await api(`/runs/${done.run_id}/pause`, { method: "POST" });
    expect(res.status).toBe(409);
    expect((await errorOf(res)).code).toBe("run_finished");
    const other = await newApiKey(`pause-${uniq()}`);
    const theirs = await api(`/runs/${done.run_id}/pause`, { method: "POST", key: other.secret });
    expect(theirs.status).toBe(404);
  });
});
