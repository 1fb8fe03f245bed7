import { describe, expect, it } from "vitest";
import { api, createRun, waitForRun } from "./helpers";

// The console shows "wakes at …" from the run resource: a sleeping step must say when it wakes.
describe("a sleeping step in the run resource", () => {
  it("gives its wake time as waiting_until while it sleeps, and none once the run is cancelled", async () => {
    const plan = { steps: [{ step_number: 1, tool: "Wait.sleep", input: { seconds: 600 } }] };
    const created = await createRun({ plan });
    const run = await waitForRun(created.run_id, (r) => r.execution_log[0]!.status === "running");
    const [sleep] = run.execution_log;
    expect(sleep!.waiting_until).not.toBeNull();
    // Ten minutes after the step began (its start time and the timer's are read in the same turn).
    const ahead = Date.parse(sleep!.waiting_until!) - Date.parse(sleep!.started_at!);
    expect(ahead).toBeGreaterThan(590_000);
    expect(ahead).toBeLessThanOrEqual(600_000);
    expect((await api(`/runs/${created.run_id}/cancel`, { method: "POST", json: {} })).status).toBe(200);
    const cancelled = await waitForRun(created.run_id);
    expect(cancelled.execution_log[0]!.waiting_until).toBeNull();
  });
});
