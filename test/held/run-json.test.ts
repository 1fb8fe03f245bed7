// GET /runs/{id} answers the run object's resource as JSON text it encodes once per change: the same
// resource getRun answers, and a new text after every change.
import { describe, expect, it } from "vitest";
import { api, createRun, uniq } from "../helpers";
import { deliver, sentMessages, stub } from "./harness";

const getJson = async (runId: string) => {
  const res = await api(`/runs/${runId}`);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^application\/json/);
  return (await res.json()) as { status: string };
};

describe("GET /runs/{id}", () => {
  it("answers what getRun answers, and the run as it changes, not a text kept from before", async () => {
    const run = await createRun({ prompt: `add a todo to ${uniq()}` });
    const before = await getJson(run.run_id);
    expect(before.status).toBe("running");
    // Asked again with nothing changed: the same text (kept), the same resource.
    expect(await getJson(run.run_id)).toEqual(before);
    expect(before).toEqual(await stub(run.run_id).getRun("dev"));

    await deliver(...(await sentMessages(run.run_id)));
    const after = await getJson(run.run_id);
    expect(after.status).toBe("completed");
    expect(after).toEqual(await stub(run.run_id).getRun("dev"));
  });
});
