// The alarms of the schedule, webhook outbox and bulk job objects under real faults: a table the
// alarm needs is dropped (or renamed away, in D1) in this file's isolated storage, the alarm is
// delivered with runDurableObjectAlarm, and the object must log, re-arm itself with backoff and
// recover once the fault is gone, instead of throwing its alarm away.
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { alarmBackoffMs } from "../src/durable/alarm-guard";
import { BULK_JOB_RETENTION_MS, MAX_PAGE_FAILURES, type BulkJob } from "../src/durable/bulk/bulk-job";
import type { ScheduleObject } from "../src/durable/schedule/schedule-object";
import type { ScheduleResource } from "../src/durable/schedule/schedule-resource";
import { api, uniq } from "./helpers";

/** The object's alarm, as ms from now (null: none). */
async function alarmIn(stub: DurableObjectStub): Promise<number | null> {
  return runInDurableObject(stub, async (_o: unknown, state: DurableObjectState) => {
    const at = await state.storage.getAlarm();
    return at === null ? null : at - Date.now();
  });
}

/** Re-armed by the guard after `failures` failures: within that backoff's jittered range. */
async function expectBackoff(stub: DurableObjectStub, failures: number): Promise<void> {
  const left = await alarmIn(stub);
  expect(left).not.toBeNull();
  expect(left!).toBeGreaterThan(alarmBackoffMs(failures, () => 0) - 1000);
  expect(left!).toBeLessThanOrEqual(alarmBackoffMs(failures, () => 1));
}

interface Job {
  status: string;
  error: { code: string; message: string } | null;
}

async function startJob(): Promise<{ id: string; stub: DurableObjectStub<BulkJob> }> {
  const res = await api("/runs/bulk", { method: "POST", json: { action: "cancel", filter: { status: "running", tool: `none-${uniq()}` } } });
  expect(res.status).toBe(202);
  const { job_id } = (await res.json()) as { job_id: string };
  return { id: job_id, stub: env.BULK_JOBS.getByName(job_id) };
}

const job = async (id: string) => api(`/jobs/${id}`);

describe("bulk jobs' alarm", () => {
  it("retries a page whose D1 read fails with backoff, and ends the job failed after the limit instead of running forever", async () => {
    const { id, stub } = await startJob();
    await env.DB.exec("ALTER TABLE runs RENAME TO runs_away");
    try {
      for (let i = 1; i <= MAX_PAGE_FAILURES; i++) {
        expect(await runDurableObjectAlarm(stub)).toBe(true);
        if (i < MAX_PAGE_FAILURES) {
          await expectBackoff(stub, i);
          expect(((await (await job(id)).json()) as Job).status).toBe("running");
        }
      }
    } finally {
      await env.DB.exec("ALTER TABLE runs_away RENAME TO runs");
    }
    const failed = (await (await job(id)).json()) as Job;
    expect(failed.status).toBe("failed");
    expect(failed.error?.code).toBe("bulk_page_failed");
    // Its alarm now waits for the job's deletion.
    expect(await alarmIn(stub)).toBeGreaterThan(BULK_JOB_RETENTION_MS - 60_000);
  });

  it("goes on after a page failed once, and deletes an ended job's object after its retention", async () => {
    const { id, stub } = await startJob();
    await env.DB.exec("ALTER TABLE runs RENAME TO runs_away");
    try {
      await runDurableObjectAlarm(stub);
    } finally {
      await env.DB.exec("ALTER TABLE runs_away RENAME TO runs");
    }
    await runDurableObjectAlarm(stub);
    expect(((await (await job(id)).json()) as Job).status).toBe("completed");

    await runInDurableObject(stub, (o: BulkJob) => {
      o.clock = () => Date.now() + BULK_JOB_RETENTION_MS - 60_000;
    });
    await runDurableObjectAlarm(stub);
    expect((await job(id)).status).toBe(200); // not yet
    await runInDurableObject(stub, (o: BulkJob) => {
      o.clock = () => Date.now() + BULK_JOB_RETENTION_MS + 1000;
    });
    await runDurableObjectAlarm(stub);
    expect((await job(id)).status).toBe(404);
    const left = await runInDurableObject(stub, (_o: BulkJob, state) => state.storage.sql.exec(`SELECT name FROM sqlite_master WHERE name = 'job'`).toArray());
    expect(left).toEqual([]);
    expect(await alarmIn(stub)).toBeNull();
  });
});

describe("a schedule's alarm", () => {
  it("re-arms with backoff when recording the occurrence fails, and records it on the retry", async () => {
    const at = Math.ceil((Date.now() + 86_400_000) / 60_000) * 60_000;
    const plan = { steps: [{ step_number: 1, tool: "Calculator.evaluate", input: { expression: "1 + 1" } }] };
    const res = await api("/schedules", { method: "POST", json: { cron: "* * * * *", name: `guard ${uniq()}`, plan, paused: true } });
    const created = (await res.json()) as ScheduleResource;
    expect(res.status, JSON.stringify(created)).toBe(201);
    const stub = env.SCHEDULES.getByName(created.schedule_id);
    await runInDurableObject(stub, (o: ScheduleObject) => {
      o.clock = () => at - 30_000;
    });
    expect((await api(`/schedules/${created.schedule_id}`, { method: "PATCH", json: { paused: false } })).status).toBe(200);
    await runInDurableObject(stub, (o: ScheduleObject, state) => {
      o.clock = () => at + 1000;
      state.storage.sql.exec("ALTER TABLE occurrences RENAME TO occurrences_away");
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    await expectBackoff(stub, 1);
    await runInDurableObject(stub, (_o: ScheduleObject, state) => {
      state.storage.sql.exec("ALTER TABLE occurrences_away RENAME TO occurrences");
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const after = (await (await api(`/schedules/${created.schedule_id}`)).json()) as ScheduleResource;
    expect(after.recent_runs.map((o) => o.scheduled_for)).toEqual([new Date(at).toISOString()]);
    expect(after.recent_runs[0]!.run_id).toEqual(expect.any(String));
    await api(`/schedules/${created.schedule_id}`, { method: "DELETE" });
  });
});

describe("the webhook outbox's alarm", () => {
  it("re-arms with backoff when its storage fails, instead of throwing the alarm away", async () => {
    const stub = env.WEBHOOKS.getByName(`guard-${uniq()}`);
    await runInDurableObject(stub, async (_o: unknown, state) => {
      state.storage.sql.exec("DROP TABLE deliveries");
      await state.storage.setAlarm(Date.now() + 60_000);
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    await expectBackoff(stub, 1);
    await runInDurableObject(stub, (_o: unknown, state) => state.storage.deleteAlarm());
  });
});
