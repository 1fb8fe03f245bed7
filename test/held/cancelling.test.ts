// A cancel with compensate, seen from outside while it is under way: the run resource, the D1 read
// model (GET /runs?status=) and the log say "cancelling" from the cancel until the undoing starts,
// while a queued step is in flight against a local upstream that holds its answer until the test
// lets it go (no timing: the step stays in flight for as long as the assertions take).
import { env } from "cloudflare:workers";
import { describe, expect, inject, it, vi } from "vitest";
import { api, createRun, getRun, SETTLE, uniq } from "../helpers";
import { deliver, eventTypes, projectedRow, sentMessages } from "./harness";

const upstream = inject("upstreamUrl");

const upstreamHits = async (path: string) => ((await (await fetch(`${upstream}/hits${path}`)).json()) as { hits: number }).hits;

describe("a run cancelled with compensate while a queued step is in flight", () => {
  it("says cancelling until the step ends, then compensating, then cancelled", async () => {
    const key = uniq();
    const title = `cancelling ${key}`;
    const run = await createRun({
      plan: {
        steps: [
          { step_number: 1, tool: "TodoStore.add", input: { title } },
          { step_number: 2, tool: "Http.get", input: { url: `${upstream}/gate/${key}` }, depends_on: [1] },
        ],
      },
    });
    const delivered = new Set<number>();
    const deliverNew = async () => {
      const fresh = (await sentMessages(run.run_id)).filter((m) => !delivered.has(m.dispatch));
      for (const m of fresh) delivered.add(m.dispatch);
      return fresh.length ? deliver(...fresh) : undefined;
    };
    await deliverNew(); // step 1 adds the todo; step 2 is sent
    // Step 2's consumer is now waiting on the upstream, which holds its answer.
    const inFlight = deliverNew();
    await vi.waitFor(async () => expect(await upstreamHits(`/gate/${key}`)).toBe(1), SETTLE);

    const res = await api(`/runs/${run.run_id}/cancel`, { method: "POST", json: { compensate: true, reason: "not now" } });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: "cancelling", compensation: null, error: null });
    const seen = await getRun(run.run_id);
    expect(seen).toMatchObject({ status: "cancelling", compensation: null, error: null });
    expect(seen.execution_log.map((s) => s.status)).toEqual(["succeeded", "running"]);
    // The read model says so too, and lists it under its status.
    await projectedRow(run.run_id, "cancelling");
    const listed = (await (await api("/runs?status=cancelling&limit=100")).json()) as { runs: { run_id: string; status: string }[] };
    expect(listed.runs).toContainEqual(expect.objectContaining({ run_id: run.run_id, status: "cancelling" }));
    // Cancelling again with compensate changes nothing.
    expect(await (await api(`/runs/${run.run_id}/cancel`, { method: "POST", json: { compensate: true } })).json()).toMatchObject({
      status: "cancelling",
    });

    // The upstream answers: the step's outcome is recorded and the undoing starts.
    await fetch(`${upstream}/open/${key}`);
    await inFlight;
    expect(await getRun(run.run_id)).toMatchObject({ status: "compensating", compensation: { reason: "cancelled", status: "running" } });
    await deliverNew(); // the undo of step 1
    const ended = await getRun(run.run_id);
    expect(ended).toMatchObject({ status: "cancelled", error: { code: "cancelled", message: "not now" }, compensation: { status: "completed" } });
    expect(ended.execution_log.map((s) => s.status)).toEqual(["succeeded", "succeeded"]);
    await projectedRow(run.run_id, "cancelled");
    expect(await eventTypes(run.run_id)).toEqual(expect.arrayContaining(["run.cancelling", "compensation.started", "run.cancelled"]));
    const todos = await env.DB.prepare("SELECT deleted_by FROM todos WHERE title = ?").bind(title).all<{ deleted_by: string | null }>();
    expect(todos.results).toEqual([{ deleted_by: `${run.run_id}:1:undo` }]);
  });
});

describe("a pre-flight refused because the run is being cancelled", () => {
  it("records the step as skipped and counts as the one request it is", async () => {
    const run = await createRun({ plan: { steps: [{ step_number: 1, tool: "TodoStore.add", input: { title: `skipped ${uniq()}` } }] } });
    const [msg] = await sentMessages(run.run_id);
    const res = await api(`/runs/${run.run_id}/cancel`, { method: "POST", json: { compensate: true } });
    expect(((await res.json()) as { status: string }).status).toBe("cancelling");
    // Requests to the run object itself: its shared objects' (the tenant's slot given back as the run ends) apart.
    const requests = async () => {
      const u = (await (await api(`/runs/${run.run_id}/usage`)).json()) as { do_requests: number; shared_requests: Record<string, number> };
      return u.do_requests - Object.values(u.shared_requests).reduce((a, b) => a + b, 0);
    };
    const before = await requests();
    // The message arrives after the cancel: its pre-flight is refused, and the step never runs.
    await deliver(msg!);
    expect(await eventTypes(run.run_id)).toContain("step.skipped");
    expect((await getRun(run.run_id)).status).toBe("cancelled");
    expect((await requests()) - before).toBe(1);
  });
});
