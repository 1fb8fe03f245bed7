// Faults that used to leave a run without a watchdog: an alarm that throws, and a command whose
// events were folded into memory but could not be written.
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { RunObject } from "../../src/durable/run/run-object";
import { api, createRun, getRun } from "../helpers";
import { eventTypes, stub } from "./harness";

const waitsForSignal = { plan: { steps: [{ step_number: 1, tool: "Wait.signal", input: { name: "go" } }] } };

describe("the run object's watchdog under faults", () => {
  it("re-arms its alarm with backoff when the watchdog's work throws, and does its work on the next try", async () => {
    const run = await createRun(waitsForSignal);
    let failures = 0;
    await runInDurableObject(stub(run.run_id), (instance: RunObject) => {
      const inner = instance as unknown as { watch(): Promise<void> };
      const real = inner.watch.bind(instance);
      inner.watch = async () => {
        if (failures++ === 0) throw new Error("the watchdog's work failed");
        return real();
      };
    });
    // The throw does not escape (it would spend the runtime's alarm retries) ...
    expect(await runDurableObjectAlarm(stub(run.run_id))).toBe(true);
    // ... and an alarm is set again, within the backoff's first step.
    const armed = await runInDurableObject(stub(run.run_id), (_i: RunObject, state) => state.storage.getAlarm());
    expect(armed).not.toBeNull();
    expect(armed! - Date.now()).toBeLessThanOrEqual(60_000);
    expect(await runDurableObjectAlarm(stub(run.run_id))).toBe(true);
    expect(failures).toBe(2);
  });

  it("resets the object when a command's events cannot be written, so the next request rebuilds from the log", async () => {
    const run = await createRun(waitsForSignal);
    const before = await eventTypes(run.run_id);
    await runInDurableObject(stub(run.run_id), (instance: RunObject) => {
      const log = (instance as unknown as { log: { flush(): void } }).log;
      log.flush = () => {
        throw new Error("disk full");
      };
    });
    const refused = await api(`/runs/${run.run_id}/signals/go`, { method: "POST", json: { payload: 1 } });
    expect(refused.status).toBeGreaterThanOrEqual(500);
    // The object was reset: what it folded but never wrote is gone, and it works again.
    expect(await eventTypes(run.run_id)).toEqual(before);
    expect((await getRun(run.run_id)).status).toBe("waiting");
    const sent = await api(`/runs/${run.run_id}/signals/go`, { method: "POST", json: { payload: 2 } });
    expect(sent.status).toBe(202);
    expect(await getRun(run.run_id)).toMatchObject({ status: "completed", result: 2 });
  });
});
