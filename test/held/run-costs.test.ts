import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { RunObject } from "../../src/durable/run/run-object";
import { runIdFor } from "../../src/durable/run/start-run";
import { DEV_TENANT } from "../../src/auth/api-keys";
import { api, uniq } from "../helpers";
import { deliver, projectedRow, sentMessages, stub } from "./harness";

/**
 * What one run asks of its object's storage and of D1, counted at the storage API itself (SQLite
 * statements, alarm writes) and by the run's usage meter (D1). These counts do not depend on the
 * machine's load, so they are how the CPU cuts of issue 31 are held (docs/architecture.md, "Where
 * a run's CPU goes").
 */
async function counted(key: string) {
  const runId = await runIdFor(DEV_TENANT, key);
  const counts = { execs: 0, writes: 0, alarms: 0 };
  // The object is made here (its constructor writes nothing) and its storage calls wrapped before the run exists.
  await runInDurableObject(stub(runId), (instance: RunObject, state) => {
    // The run's clock stands still, an hour ahead: however slow the machine, no delay of the run's
    // own (the creation row's) runs out during the test, and no alarm it sets fires in it.
    const frozen = Date.now() + 3_600_000;
    instance.clock = () => frozen;
    const sql = state.storage.sql;
    const exec = sql.exec.bind(sql);
    sql.exec = ((query: string, ...bindings: unknown[]) => {
      counts.execs += 1;
      if (!/^\s*SELECT/i.test(query)) counts.writes += 1;
      return exec(query, ...bindings);
    }) as typeof sql.exec;
    const setAlarm = state.storage.setAlarm.bind(state.storage);
    state.storage.setAlarm = ((at: number | Date, options?: DurableObjectSetAlarmOptions) => {
      counts.alarms += 1;
      return setAlarm(at, options);
    }) as typeof state.storage.setAlarm;
    const deleteAlarm = state.storage.deleteAlarm.bind(state.storage);
    state.storage.deleteAlarm = ((options?: DurableObjectSetAlarmOptions) => {
      counts.alarms += 1;
      return deleteAlarm(options);
    }) as typeof state.storage.deleteAlarm;
  });
  return { runId, counts };
}

async function d1(runId: string) {
  return (await (await api(`/runs/${runId}/usage`)).json()) as { d1_statements: number; d1_rows_written: number };
}

describe("a run's storage operations", () => {
  it("a calculation that ends inside its create: two SQLite statements, two alarm writes, one D1 statement", async () => {
    const key = `costs-${uniq()}`;
    const { runId, counts } = await counted(key);
    const res = await api("/runs", { method: "POST", json: { prompt: "calculate (41*7)+13" }, headers: { "idempotency-key": key } });
    expect(res.status).toBe(201);
    await projectedRow(runId, "completed");
    // The create: its events in one call that also creates the run's tables, and the alarm guarding
    // its projection. After the projection: the bookkeeping row, and the alarm moved to retention.
    // Soft: each count reports on its own, so a regression names every count it moved.
    expect.soft(counts).toEqual({ execs: 2, writes: 2, alarms: 2 });
    // Its end row: the row and two index entries, the lists' key and the retention sweep's (runs.run_id has none of its own).
    expect.soft(await d1(runId)).toMatchObject({ d1_statements: 1, d1_rows_written: 3 });
  });

  it("a DAG of two queued steps and an inline join that ends within the creation row's delay: three SQLite writes, two alarm writes, one D1 statement", async () => {
    const key = `costs-${uniq()}`;
    const { runId, counts } = await counted(key);
    const res = await api("/runs", {
      method: "POST",
      json: { prompt: "list my todos and list my open todos, then calculate 1 + 1" },
      headers: { "idempotency-key": key },
    });
    expect(res.status).toBe(201);
    const messages = await sentMessages(runId);
    expect(messages).toHaveLength(2);
    await deliver(...messages);
    await projectedRow(runId, "completed");
    // Create and report: one statement each (the two reports share one command). The alarm armed
    // at the create (the creation row's delay) also guards the end's projection; once that landed,
    // the bookkeeping row and the alarm moved to retention. (Reading its events back is a SELECT.)
    expect.soft(counts.writes).toBe(3);
    expect.soft(counts.alarms).toBe(2);
    // Its end row only (the row and its two index entries): it ended before its creation row was due.
    expect.soft(await d1(runId)).toMatchObject({ d1_statements: 1, d1_rows_written: 3 });
  });
});
