// Schedules under workerd: real schedule objects, alarms, run objects and D1. Time is the
// schedule object's injectable clock, set a day ahead so the runtime's own alarms never fire
// during a test, and each occurrence is delivered with runDurableObjectAlarm.
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it, vi } from "vitest";
import { app } from "../src/app";
import type { RunResource } from "../src/durable/run/run-view";
import type { ScheduleObject } from "../src/durable/schedule/schedule-object";
import type { ScheduleResource, ScheduleSummary } from "../src/durable/schedule/schedule-resource";
import { ADMIN_TOKEN, api, errorOf, newApiKey, SETTLE, uniq } from "./helpers";
import { rowOnAnyShard, rowsOnEveryShard, shardDb } from "./read-model";
import { OCCURRENCE_WINDOW, runStatuses } from "../src/api/schedule-index";
import { READ_MODEL_COLUMNS, writeRunRow } from "../src/db/run-rows";
import { fillCap, releaseAll } from "./tenant-slots";

const calc = { plan: { steps: [{ step_number: 1, tool: "Calculator.evaluate", input: { expression: "6 * 7" } }] } };
const approval = { plan: { steps: [{ step_number: 1, tool: "Human.approve", input: { message: "scheduled?" } }] } };

/** A whole second a day from now, plus half a second: occurrences of an every-second cron fall on the whole seconds. */
const base = () => Math.ceil((Date.now() + 86_400_000) / 1000) * 1000 + 500;

const stub = (id: string) => env.SCHEDULES.getByName(id);

async function setClock(id: string, ms: number): Promise<void> {
  await runInDurableObject(stub(id), (instance: ScheduleObject) => {
    instance.clock = () => ms;
  });
}

/** Delivers the schedule's alarm with its clock at `ms`; true when an alarm was set. */
async function alarmAt(id: string, ms: number): Promise<boolean> {
  await setClock(id, ms);
  return runDurableObjectAlarm(stub(id));
}

async function getSchedule(id: string, key?: string): Promise<ScheduleResource> {
  const res = await api(`/schedules/${id}`, key ? { key } : {});
  expect(res.status).toBe(200);
  return (await res.json()) as ScheduleResource;
}

/**
 * A schedule created paused, its clock set to `at`, then resumed: its first occurrence is the
 * cron's first after `at`, and its alarm is set a day ahead of the runtime's clock.
 */
async function scheduleAt(at: number, body: Record<string, unknown>, key?: string): Promise<ScheduleResource> {
  const res = await api("/schedules", { method: "POST", json: { ...body, paused: true }, ...(key ? { key } : {}) });
  const created = (await res.json()) as ScheduleResource;
  expect(res.status, JSON.stringify(created)).toBe(201);
  expect(created.next_run_at).toBeNull();
  await setClock(created.schedule_id, at);
  const resumed = await api(`/schedules/${created.schedule_id}`, { method: "PATCH", json: { paused: false }, ...(key ? { key } : {}) });
  expect(resumed.status).toBe(200);
  return (await resumed.json()) as ScheduleResource;
}

/** The schedule's runs in D1, once `n` of them are projected. */
async function projectedRuns(scheduleId: string, n: number): Promise<{ run_id: string; scheduled_for: string; status: string }[]> {
  return vi.waitFor(async () => {
    const rows = await rowsOnEveryShard<{ run_id: string; scheduled_for: string; status: string }>(
      "SELECT run_id, scheduled_for, status FROM runs WHERE schedule_id = ? ORDER BY scheduled_for",
      scheduleId,
    );
    expect(rows.length, `runs of ${scheduleId} in D1`).toBeGreaterThanOrEqual(n);
    return rows;
  }, SETTLE);
}

const iso = (ms: number) => new Date(ms).toISOString();

describe("a schedule's occurrences", () => {
  it("starts one run per occurrence of a six-field every-second cron, even when the alarm is delivered twice", async () => {
    const t = base();
    const s = await scheduleAt(t, { cron: "* * * * * *", name: `every second ${uniq()}`, ...calc });
    expect(s.next_run_at).toBe(iso(t + 500));
    const id = s.schedule_id;

    for (let k = 1; k <= 3; k++) {
      const now = t + k * 1000;
      expect(await alarmAt(id, now)).toBe(true);
      // The same alarm again (at-least-once delivery): nothing is due any more.
      expect(await runDurableObjectAlarm(stub(id))).toBe(true);
    }
    // Two deliveries at once of the fourth occurrence.
    await runInDurableObject(stub(id), async (instance: ScheduleObject) => {
      instance.clock = () => t + 4000;
      await Promise.all([instance.alarm(), instance.alarm()]);
    });

    const after = await getSchedule(id);
    const expected = [1, 2, 3, 4].map((k) => iso(t + k * 1000 - 500));
    expect(after.recent_runs.map((r) => r.scheduled_for)).toEqual([...expected].reverse());
    expect(after.recent_runs.every((r) => r.run_id !== null && !r.manual && r.status === "completed")).toBe(true);
    expect(after.next_run_at).toBe(iso(t + 4500));
    const runs = await projectedRuns(id, 4);
    expect(runs.map((r) => r.scheduled_for)).toEqual(expected);
    expect(new Set(runs.map((r) => r.run_id)).size).toBe(4);

    // The run carries its schedule and occurrence.
    const run = (await (await api(`/runs/${runs[0]!.run_id}`)).json()) as RunResource;
    expect(run.schedule_id).toBe(id);
    expect(run.scheduled_for).toBe(expected[0]);
    expect(run.result).toBe(42);

    // Were the record of an occurrence lost (a crash after the start), its redelivery is the same run.
    await runInDurableObject(stub(id), async (instance: ScheduleObject) => {
      const record = (instance as unknown as { record: { next_run_at: number } }).record;
      record.next_run_at = t + 3500;
      instance.clock = () => t + 4000;
      await instance.alarm();
    });
    // The occurrence's run again, recorded as itself: no fifth run was started to reach D1 later.
    expect((await getSchedule(id)).recent_runs.map((r) => [r.scheduled_for, r.run_id])).toEqual(after.recent_runs.map((r) => [r.scheduled_for, r.run_id]));
    expect(await projectedRuns(id, 4)).toHaveLength(4);
  });

  it("after downtime runs one catch-up occurrence and records the rest as missed", async () => {
    const t = base();
    const s = await scheduleAt(t, { cron: "* * * * * *", ...calc });
    // Down for ten seconds: occurrences at t+0.5 … t+9.5 s were due.
    expect(await alarmAt(s.schedule_id, t + 10_000)).toBe(true);
    const after = await getSchedule(s.schedule_id);
    expect(after.recent_runs[0]).toMatchObject({ scheduled_for: iso(t + 9500), status: "completed" });
    expect(after.recent_runs.slice(1).map((r) => [r.scheduled_for, r.status, r.run_id])).toEqual(
      [8, 7, 6, 5, 4, 3, 2, 1, 0].map((k) => [iso(t + k * 1000 + 500), "missed", null]),
    );
    expect(after.next_run_at).toBe(iso(t + 10_500));
    expect(await projectedRuns(s.schedule_id, 1)).toHaveLength(1);
  });

  it("pauses and resumes: nothing fires while paused, and a resume counts from then", async () => {
    const t = base();
    const s = await scheduleAt(t, { cron: "*/5 * * * * *", ...calc });
    const id = s.schedule_id;
    const paused = await api(`/schedules/${id}`, { method: "PATCH", json: { paused: true } });
    expect(((await paused.json()) as ScheduleResource).next_run_at).toBeNull();
    // No alarm is set while paused.
    await setClock(id, t + 60_000);
    expect(await runDurableObjectAlarm(stub(id))).toBe(false);
    expect((await getSchedule(id)).recent_runs).toEqual([]);

    // Resumed a minute later: the next occurrence after then, none of the paused minute's.
    const resumed = (await (await api(`/schedules/${id}`, { method: "PATCH", json: { paused: false } })).json()) as ScheduleResource;
    const next = Date.parse(resumed.next_run_at!);
    expect(next).toBeGreaterThan(t + 60_000);
    expect(next - (t + 60_000)).toBeLessThanOrEqual(5000);
    expect(await alarmAt(id, next)).toBe(true);
    const after = await getSchedule(id);
    expect(after.recent_runs.map((r) => [r.scheduled_for, r.status])).toEqual([[iso(next), "completed"]]);
  });

  it('overlap "skip" records an occurrence whose previous run is still going as skipped; "allow" starts it', async () => {
    const t = base();
    const s = await scheduleAt(t, { cron: "* * * * * *", ...approval });
    const id = s.schedule_id;
    await alarmAt(id, t + 1000);
    const first = (await getSchedule(id)).recent_runs[0]!;
    expect(first.status).toBe("waiting");

    await alarmAt(id, t + 2000);
    const skipped = (await getSchedule(id)).recent_runs[0]!;
    expect(skipped).toMatchObject({ scheduled_for: iso(t + 1500), status: "skipped", run_id: null });
    expect(skipped.error?.code).toBe("previous_run_in_flight");

    // Once the previous run has ended, the next occurrence starts again.
    expect((await api(`/runs/${first.run_id}/cancel`, { method: "POST" })).status).toBe(200);
    await alarmAt(id, t + 3000);
    const third = (await getSchedule(id)).recent_runs[0]!;
    expect(third).toMatchObject({ scheduled_for: iso(t + 2500), status: "waiting" });

    // "allow": the next one starts although the third's run is waiting.
    expect((await api(`/schedules/${id}`, { method: "PATCH", json: { overlap: "allow" } })).status).toBe(200);
    await alarmAt(id, t + 4000);
    const fourth = (await getSchedule(id)).recent_runs[0]!;
    expect(fourth).toMatchObject({ scheduled_for: iso(t + 3500), status: "waiting" });
    expect(fourth.run_id).not.toBe(third.run_id);
    for (const r of [third, fourth]) expect((await api(`/runs/${r.run_id}/cancel`, { method: "POST" })).status).toBe(200);
  });

  it("records an occurrence the tenant's cap on runs in flight refuses, and goes on", async () => {
    const tenant = `cap-${uniq()}`;
    const key = await newApiKey(tenant);
    const t = base();
    const s = await scheduleAt(t, { cron: "* * * * * *", ...approval }, key.secret);
    // The tenant's 100 slots are taken (MAX_RUNS_IN_FLIGHT), on every shard, by runs that just started.
    const held = await fillCap(tenant, 100);
    await alarmAt(s.schedule_id, t + 1000);
    const refused = (await getSchedule(s.schedule_id, key.secret)).recent_runs[0]!;
    expect(refused).toMatchObject({ status: "refused", run_id: null });
    expect(refused.error?.code).toBe("too_many_runs_in_flight");

    await releaseAll(tenant, held);
    await alarmAt(s.schedule_id, t + 2000);
    const started = (await getSchedule(s.schedule_id, key.secret)).recent_runs[0]!;
    expect(started).toMatchObject({ scheduled_for: iso(t + 1500), status: "waiting" });
    expect((await api(`/runs/${started.run_id}/cancel`, { method: "POST", key: key.secret })).status).toBe(200);
  });

  it("runs now on trigger, as a manual occurrence, even while paused", async () => {
    const res = await api("/schedules", { method: "POST", json: { cron: "0 9 * * 1-5", timezone: "Europe/Paris", paused: true, ...calc } });
    const s = (await res.json()) as ScheduleResource;
    const triggered = await api(`/schedules/${s.schedule_id}/trigger`, { method: "POST" });
    expect(triggered.status).toBe(201);
    const run = (await triggered.json()) as RunResource;
    expect(triggered.headers.get("location")).toBe(`/api/v1/runs/${run.run_id}`);
    expect(run).toMatchObject({ schedule_id: s.schedule_id, status: "completed", result: 42 });
    const after = await getSchedule(s.schedule_id);
    expect(after.recent_runs).toEqual([{ run_id: run.run_id, scheduled_for: run.scheduled_for, status: "completed", manual: true, error: null }]);
    expect(after.next_run_at).toBeNull();
    await projectedRuns(s.schedule_id, 1);
  });
});

describe("a scheduled run's retention", () => {
  it("is its tenant's, though no API key starts it", async () => {
    const tenant = `sched-ret-${uniq()}`;
    const { secret } = await newApiKey(tenant);
    const res = await api("/schedules", { method: "POST", json: { cron: "0 9 * * *", paused: true, ...calc }, key: secret });
    const s = (await res.json()) as ScheduleResource;
    // Set after the schedule exists: each occurrence reads the tenant's retention when it starts.
    const set = await api(`/admin/tenants/${tenant}/retention`, { method: "PUT", json: { days: 3 }, key: ADMIN_TOKEN });
    expect(set.status).toBe(200);
    const run = (await (await api(`/schedules/${s.schedule_id}/trigger`, { method: "POST", key: secret })).json()) as RunResource;
    expect(run.status).toBe("completed");
    await projectedRuns(s.schedule_id, 1);
    const row = await rowOnAnyShard<{ completed_at: string; expires_at: string }>("SELECT completed_at, expires_at FROM runs WHERE run_id = ?", run.run_id);
    expect(Date.parse(row!.expires_at) - Date.parse(row!.completed_at)).toBe(3 * 86_400_000);
  });
});

describe("the schedules API", () => {
  it("creates, lists, reads, changes and deletes a schedule", async () => {
    const name = `weekday mornings ${uniq()}`;
    // The README's example.
    const statusPrompt = "fetch https://status.example.com/api/v2/status.json then add a todo to check the status page";
    const res = await api("/schedules", {
      method: "POST",
      json: { cron: "0 9 * * 1-5", timezone: "America/New_York", prompt: statusPrompt, name, options: { step_timeout_ms: 5000 } },
    });
    expect(res.status).toBe(201);
    const s = (await res.json()) as ScheduleResource;
    expect(res.headers.get("location")).toBe(`/api/v1/schedules/${s.schedule_id}`);
    expect(s.schedule_id).toMatch(/^sch_[0-9a-f]{32}$/);
    expect(s).toMatchObject({ name, cron: "0 9 * * 1-5", timezone: "America/New_York", overlap: "skip", paused: false, prompt: statusPrompt, plan: null });
    // 9:00 in New York is 13:00 or 14:00 UTC, on a weekday.
    const next = new Date(s.next_run_at!);
    expect([13, 14]).toContain(next.getUTCHours());
    expect(next.getUTCMinutes()).toBe(0);
    expect(next.getTime()).toBeGreaterThan(Date.now());

    const list = (await (await api("/schedules")).json()) as { schedules: ScheduleSummary[] };
    const listed = list.schedules.find((x) => x.schedule_id === s.schedule_id);
    expect(listed).toMatchObject({ name, cron: s.cron, next_run_at: s.next_run_at, paused: false });

    const changed = await api(`/schedules/${s.schedule_id}`, { method: "PATCH", json: { cron: "30 7 * * *", timezone: "Asia/Tokyo", plan: calc.plan } });
    expect(changed.status).toBe(200);
    const c = (await changed.json()) as ScheduleResource;
    expect(c).toMatchObject({ cron: "30 7 * * *", timezone: "Asia/Tokyo", prompt: null, name });
    expect(c.plan?.steps[0]?.tool).toBe("Calculator.evaluate");
    // 7:30 in Tokyo is 22:30 UTC.
    expect(c.next_run_at).toMatch(/T22:30:00\.000Z$/);
    const relisted = (await (await api("/schedules")).json()) as { schedules: ScheduleSummary[] };
    expect(relisted.schedules.find((x) => x.schedule_id === s.schedule_id)).toMatchObject({ cron: "30 7 * * *", prompt: null, next_run_at: c.next_run_at });

    expect((await api(`/schedules/${s.schedule_id}`, { method: "DELETE" })).status).toBe(204);
    expect((await api(`/schedules/${s.schedule_id}`)).status).toBe(404);
    expect((await api(`/schedules/${s.schedule_id}`, { method: "DELETE" })).status).toBe(404);
    const gone = (await (await api("/schedules")).json()) as { schedules: ScheduleSummary[] };
    expect(gone.schedules.some((x) => x.schedule_id === s.schedule_id)).toBe(false);
    // Its alarm went with it.
    expect(await runDurableObjectAlarm(stub(s.schedule_id))).toBe(false);
  });

  it("refuses invalid input with 400 in the error shape", async () => {
    const post = (json: unknown) => api("/schedules", { method: "POST", json });
    const cases: [unknown, string][] = [
      [{ cron: "bad", ...calc }, "invalid_cron"],
      [{ cron: "61 * * * *", ...calc }, "invalid_cron"],
      [{ cron: "* * * * * * *", ...calc }, "invalid_cron"],
      [{ cron: "2030-01-23T00:00:00", ...calc }, "invalid_cron"],
      [{ cron: "0 0 30 2 *", ...calc }, "invalid_cron"],
      [{ cron: "0 9 * * *", timezone: "Mars/Olympus_Mons", ...calc }, "unknown_timezone"],
      [{ cron: "0 9 * * *", ...calc, extra: true }, "validation_failed"],
      [{ cron: "0 9 * * *", ...calc, options: { turbo: true } }, "validation_failed"],
      [{ cron: "0 9 * * *", ...calc, prompt: "calculate 1" }, "validation_failed"],
      [{ cron: "0 9 * * *" }, "validation_failed"],
      [{ cron: "0 9 * * *", ...calc, overlap: "queue" }, "validation_failed"],
      [{ prompt: "calculate 1" }, "validation_failed"],
      [{ cron: "0 9 * * *", prompt: "what is the meaning of life" }, "unplannable_prompt"],
    ];
    for (const [body, code] of cases) {
      const res = await post(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect((await errorOf(res)).code, JSON.stringify(body)).toBe(code);
    }
    const s = (await (await post({ cron: "0 9 * * *", ...calc })).json()) as ScheduleResource;
    for (const [json, code] of [
      [{ cron: "nope" }, "invalid_cron"],
      [{ timezone: "Nowhere" }, "unknown_timezone"],
      [{ prompt: "calculate 1", plan: calc.plan }, "validation_failed"],
      [{ paused: "yes" }, "validation_failed"],
    ] as const) {
      const res = await api(`/schedules/${s.schedule_id}`, { method: "PATCH", json });
      expect(res.status, JSON.stringify(json)).toBe(400);
      expect((await errorOf(res)).code).toBe(code);
    }
    expect((await api(`/schedules/${s.schedule_id}`, { method: "DELETE" })).status).toBe(204);
  });

  it("answers any cron and time zone with 201 or a 400 in the error shape, never a 5xx", async () => {
    const field = fc.constantFrom("*", "*/2", "0", "59", "60", "1-5", "5-1", "MON", "L", "5#2", "?", "-1", "1,2", "W", "5/0", "x", "2030-01-23T00:00:00");
    const cron = fc.array(field, { maxLength: 8 }).map((f) => f.join(" "));
    const zone = fc.oneof(fc.constantFrom("UTC", "Europe/Paris", "Etc/GMT+14", "utc", "../etc/passwd", "Mars/Base"), fc.string({ maxLength: 40 }));
    await fc.assert(
      fc.asyncProperty(cron, zone, async (c, z) => {
        const res = await api("/schedules", { method: "POST", json: { cron: c, timezone: z, paused: true, ...calc } });
        expect([201, 400], `${c} ${z}`).toContain(res.status);
        if (res.status === 400) expect(["invalid_cron", "unknown_timezone", "validation_failed"]).toContain((await errorOf(res)).code);
        else expect((await api(`/schedules/${((await res.json()) as ScheduleResource).schedule_id}`, { method: "DELETE" })).status).toBe(204);
      }),
      { numRuns: 60 },
    );
  });

  it("refuses a cron that fires more often than SCHEDULE_MIN_INTERVAL_S, and a tenant's schedule past MAX_SCHEDULES", async () => {
    const key = await newApiKey(`limits-${uniq()}`);
    const configured = { ...env, SCHEDULE_MIN_INTERVAL_S: "60", MAX_SCHEDULES: "2" } as Env;
    const post = (json: unknown) =>
      app.fetch(
        new Request("http://crane.test/api/v1/schedules", {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${key.secret}` },
          body: JSON.stringify(json),
        }),
        configured,
      );
    // Every 30 s; and at 0 and 10 s past minute 5 of each hour (hourly, but twice 10 s apart).
    for (const cron of ["*/30 * * * * *", "0,10 5 * * * *"]) {
      const res = await post({ cron, ...calc });
      expect(res.status, cron).toBe(400);
      expect((await errorOf(res)).code).toBe("cron_too_frequent");
    }
    expect((await post({ cron: "* * * * *", ...calc })).status).toBe(201);
    expect((await post({ cron: "0 * * * * *", ...calc })).status).toBe(201);
    const third = await post({ cron: "0 9 * * *", ...calc });
    expect(third.status).toBe(400);
    const err = await errorOf(third);
    expect(err.code).toBe("too_many_schedules");
    expect(err.details).toEqual({ limit: 2 });
    const listed = (await (await api("/schedules", { key: key.secret })).json()) as { schedules: ScheduleSummary[] };
    expect(listed.schedules).toHaveLength(2);
    for (const s of listed.schedules) expect((await api(`/schedules/${s.schedule_id}`, { method: "DELETE", key: key.secret })).status).toBe(204);
  });

  it("hides a schedule from every other tenant: 404 for reading, changing, triggering and deleting it", async () => {
    const other = await newApiKey(`other-${uniq()}`);
    const s = (await (await api("/schedules", { method: "POST", json: { cron: "0 9 * * *", paused: true, ...calc } })).json()) as ScheduleResource;
    const path = `/schedules/${s.schedule_id}`;
    for (const [p, init] of [
      [path, {}],
      [path, { method: "PATCH", json: { paused: false } }],
      [`${path}/trigger`, { method: "POST" }],
      [path, { method: "DELETE" }],
    ] as const) {
      const res = await api(p, { ...init, key: other.secret });
      expect(res.status, `${init.method ?? "GET"} ${p}`).toBe(404);
      expect((await errorOf(res)).code).toBe("schedule_not_found");
    }
    const theirs = (await (await api("/schedules", { key: other.secret })).json()) as { schedules: ScheduleSummary[] };
    expect(theirs.schedules).toEqual([]);
    // Untouched for its owner, and ids that cannot be schedules are the same 404.
    expect((await getSchedule(s.schedule_id)).paused).toBe(true);
    expect((await api("/schedules/not-an-id")).status).toBe(404);
    expect((await api(`/schedules/sch_${"0".repeat(32)}`)).status).toBe(404);
    expect((await api(path, { method: "DELETE" })).status).toBe(204);
  });
});

// A recent run's status as it is now, though the schedule recorded it when it started: D1 finds a
// run by the key its lists walk, (tenant, created_at, run_id), with created_at near its
// occurrence's time (runs.run_id has no index of its own); a run D1 does not find is asked of its
// run object.
describe("a schedule's recent runs, as they are now", () => {
  const tenant = `st-${uniq()}`;
  const row = (run_id: string, created_at: string, t = tenant) =>
    READ_MODEL_COLUMNS.map(
      (c) => ({ run_id, tenant: t, status: "completed", planner: "rules", step_count: 1, created_at, projected_seq: 5 })[c as string] ?? null,
    );

  it("finds each run in its occurrence's window, and no other tenant's run of that id", async () => {
    const db = shardDb(tenant);
    const at = Date.parse("2026-12-08T09:00:00.000Z");
    const ids = ["near", "early", "late", "outside", "other"].map((n) => `run-${n}-${uniq()}`);
    await writeRunRow(db, row(ids[0]!, iso(at + 250)));
    await writeRunRow(db, row(ids[1]!, iso(at - OCCURRENCE_WINDOW.before_ms)));
    await writeRunRow(db, row(ids[2]!, iso(at + OCCURRENCE_WINDOW.after_ms)));
    await writeRunRow(db, row(ids[3]!, iso(at + OCCURRENCE_WINDOW.after_ms + 1)));
    // Another tenant's run with the same id, on this shard: never this tenant's.
    const other = `${tenant}-x`;
    await writeRunRow(shardDb(other), row(ids[4]!, iso(at + 250), other));
    const found = await runStatuses(
      db,
      tenant,
      ids.map((run_id) => ({ run_id, scheduled_for: iso(at) })),
    );
    expect([...found.keys()].sort()).toEqual(ids.slice(0, 3).sort());
    // More than one statement's worth (24 runs of 4 parameters each): every one found.
    const many = Array.from({ length: 30 }, (_, i) => `run-many-${i}-${uniq()}`);
    for (const id of many) await writeRunRow(db, row(id, iso(at + 1000)));
    expect(
      (
        await runStatuses(
          db,
          tenant,
          many.map((run_id) => ({ run_id, scheduled_for: iso(at) })),
        )
      ).size,
    ).toBe(30);
  });

  it("walks the key, not the tenant's history", async () => {
    const plan = await shardDb(tenant)
      .prepare(
        `EXPLAIN QUERY PLAN SELECT run_id, status FROM runs WHERE (tenant = ? AND created_at BETWEEN ? AND ? AND run_id = ?) OR (tenant = ? AND created_at BETWEEN ? AND ? AND run_id = ?)`,
      )
      .bind(tenant, "a", "b", "r1", tenant, "a", "b", "r2")
      .all<{ detail: string }>();
    const details = plan.results.map((r) => r.detail).join("\n");
    // One index search per run, each a range of the tenant's entries within the window; no scan.
    expect(details.match(/SEARCH runs USING INDEX runs_tenant_created_idx \(tenant=\? AND created_at>\? AND created_at<\?\)/g)).toHaveLength(2);
    expect(details).not.toContain("SCAN");
  });

  it("asks the run object of a run D1 does not find near its occurrence's time, and shows its status now", async () => {
    // A day ahead on the schedule's clock: the run is created a day before its occurrence's time, out of every window.
    const t = base();
    const s = await scheduleAt(t, { cron: "* * * * * *", ...approval });
    await alarmAt(s.schedule_id, t + 1000);
    const first = (await getSchedule(s.schedule_id)).recent_runs[0]!;
    expect(first.status).toBe("waiting");
    expect((await api(`/runs/${first.run_id}/cancel`, { method: "POST" })).status).toBe(200);
    await vi.waitFor(
      async () => expect((await getSchedule(s.schedule_id)).recent_runs[0]).toMatchObject({ run_id: first.run_id, status: "cancelled" }),
      SETTLE,
    );
    expect((await api(`/schedules/${s.schedule_id}`, { method: "DELETE" })).status).toBe(204);
  });

  it("takes a run's status from D1 when it finds it, without asking the run object", async () => {
    const s = (await (await api("/schedules", { method: "POST", json: { cron: "0 9 * * *", paused: true, ...approval } })).json()) as ScheduleResource;
    const triggered = await api(`/schedules/${s.schedule_id}/trigger`, { method: "POST" });
    expect(triggered.status).toBe(201);
    const run = (await triggered.json()) as RunResource;
    expect((await api(`/runs/${run.run_id}/cancel`, { method: "POST" })).status).toBe(200);
    await vi.waitFor(
      async () => expect((await rowOnAnyShard<{ status: string }>("SELECT status FROM runs WHERE run_id = ?", run.run_id))?.status).toBe("cancelled"),
      SETTLE,
    );
    const asked = vi.spyOn(env.RUNS, "getByName");
    try {
      expect((await getSchedule(s.schedule_id)).recent_runs[0]).toMatchObject({ run_id: run.run_id, status: "cancelled", manual: true });
      expect(asked.mock.calls.filter(([name]) => name === run.run_id)).toEqual([]);
    } finally {
      asked.mockRestore();
    }
    expect((await api(`/schedules/${s.schedule_id}`, { method: "DELETE" })).status).toBe(204);
  });
});
