import { createScheduledController, runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../src/index";
import type { RunObject } from "../../src/durable/run/run-object";
import { ADMIN_TOKEN, api, errorOf, newApiKey, uniq } from "../helpers";
import { CREATION_ROW_DELAY_MS } from "../../src/durable/run/effects/projector";
import { advanceClock, projectedRow, stub, watchdog } from "./harness";
import { rowOnAnyShard, rowsOnEveryShard } from "../read-model";

// Retention: an ended run is kept for its tenant's retention (here 1 day, set through the admin
// API), then its run object deletes its storage from its alarm and the cron sweep deletes its D1
// row. Time is moved, not waited for: the run objects' clocks and the sweep's scheduled time.

const DAY = 86_400_000;
const LATER = DAY + 60_000;
const MONTH_MS = 30 * DAY;

async function storageOf(runId: string): Promise<{ tables: string[]; alarm: number | null }> {
  return runInDurableObject(stub(runId), async (_instance: RunObject, state) => ({
    tables: state.storage.sql
      .exec<{ name: string }>(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
      .toArray()
      .map((r) => r.name)
      .filter((name) => !name.startsWith("_cf_")),
    alarm: await state.storage.getAlarm(),
  }));
}

const row = (runId: string) =>
  rowOnAnyShard<Record<string, string | null>>("SELECT run_id, status, created_at, completed_at, expires_at FROM runs WHERE run_id = ?", runId);

/** Every row with this run id (a run id used again after retention is another run, with its own row). */
const rowsOf = (runId: string) => rowsOnEveryShard<{ created_at: string }>("SELECT created_at FROM runs WHERE run_id = ?", runId);

async function post(key: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await api("/runs", { method: "POST", json: body, key, headers });
  const run = (await res.json()) as { run_id: string; status: string; created_at: string };
  return { status: res.status, run };
}

/** The Worker's scheduled handler, as the Cron Trigger calls it, at a time of the test's choosing. */
async function sweep(at: number) {
  await worker.scheduled(createScheduledController({ scheduledTime: at, cron: "17 * * * *" }), env);
}

describe("retention", () => {
  it("is set per tenant through the admin API, and defaults to RUN_RETENTION_DAYS", async () => {
    const tenant = `ret-${uniq()}`;
    const admin = (init: RequestInit & { json?: unknown } = {}) => api(`/admin/tenants/${tenant}/retention`, { ...init, key: ADMIN_TOKEN });
    expect(await (await admin()).json()).toEqual({ tenant, days: 30, source: "default", updated_at: null });
    const set = await admin({ method: "PUT", json: { days: 7 } });
    expect(set.status).toBe(200);
    expect(await set.json()).toMatchObject({ tenant, days: 7, source: "tenant" });
    expect(await (await admin()).json()).toMatchObject({ days: 7, source: "tenant" });
    for (const days of [0, 1.5, 3651, "7"]) {
      const bad = await admin({ method: "PUT", json: { days } });
      expect(bad.status, String(days)).toBe(400);
      expect((await errorOf(bad)).code).toBe("validation_failed");
    }
    expect((await api(`/admin/tenants/Not A Tenant/retention`, { key: ADMIN_TOKEN })).status).toBe(400);
    expect((await api(`/admin/tenants/${tenant}/retention`)).status).toBe(401); // an API key is not the admin token
    expect(await (await admin({ method: "DELETE" })).json()).toMatchObject({ days: 30, source: "default" });
  });

  it("deletes ended runs after the retention, their storage and their rows, and nothing else", async () => {
    const tenant = `ret-${uniq()}`;
    const { secret } = await newApiKey(tenant);
    expect((await api(`/admin/tenants/${tenant}/retention`, { method: "PUT", json: { days: 1 }, key: ADMIN_TOKEN })).status).toBe(200);

    const ended = (await post(secret, { prompt: "calculate 6 * 7" })).run;
    const keyed = await post(secret, { prompt: "calculate 1 + 2" }, { "idempotency-key": "retention-key" });
    expect(keyed.status).toBe(201);
    // A run waiting on a person and a run asleep for a week: in flight past the retention.
    const waiting = (
      await post(secret, {
        plan: { steps: [{ step_number: 1, tool: "Human.approve", input: { message: "ok?", timeout_seconds: 2_592_000 } }] },
        options: { run_timeout_ms: MONTH_MS },
      })
    ).run;
    const sleeping = (
      await post(secret, { plan: { steps: [{ step_number: 1, tool: "Wait.sleep", input: { seconds: 604_800 } }] }, options: { run_timeout_ms: MONTH_MS } })
    ).run;
    // Another tenant's run, ended at the same time, with the default 30 days.
    const other = (await post("crane_dev_key", { prompt: "calculate 2 + 2" })).run;
    expect([ended.status, keyed.run.status, waiting.status, sleeping.status, other.status]).toEqual([
      "completed",
      "completed",
      "waiting",
      "running",
      "completed",
    ]);

    // The end's projection carries the expiry; the run object's alarm is armed for the same instant.
    const endedRow = (await projectedRow(ended.run_id, "completed"))!;
    expect(Date.parse(String(endedRow.expires_at))).toBe(Date.parse(String(endedRow.completed_at)) + DAY);
    await expect.poll(async () => (await storageOf(ended.run_id)).alarm).toBe(Date.parse(String(endedRow.expires_at)));
    expect(await projectedRow(keyed.run.run_id, "completed")).not.toBeNull();
    expect(await projectedRow(other.run_id, "completed")).not.toBeNull();
    expect((await projectedRow(waiting.run_id, "waiting"))!.expires_at).toBeNull();
    // A run still in flight has its creation row written by its alarm, once CREATION_ROW_DELAY_MS has passed.
    await advanceClock(sleeping.run_id, CREATION_ROW_DELAY_MS);
    await watchdog(sleeping.run_id);
    expect((await projectedRow(sleeping.run_id, "running"))!.expires_at).toBeNull();

    // A day and a minute later, every object's alarm fires.
    const all = [ended, keyed.run, waiting, sleeping, other];
    for (const r of all) {
      await advanceClock(r.run_id, LATER);
      await watchdog(r.run_id);
    }
    for (const r of [ended, keyed.run]) {
      expect(await storageOf(r.run_id)).toEqual({ tables: [], alarm: null });
      for (const path of [`/runs/${r.run_id}`, `/runs/${r.run_id}/events`, `/runs/${r.run_id}/usage`]) {
        const res = await api(path, { key: secret });
        expect(res.status, path).toBe(404);
        expect((await errorOf(res)).code).toBe("run_not_found");
      }
    }
    // In flight, and another tenant's younger retention: kept.
    for (const r of [waiting, sleeping]) expect((await storageOf(r.run_id)).tables).toEqual(["bookkeeping", "event_rows"]);
    expect(((await (await api(`/runs/${waiting.run_id}`, { key: secret })).json()) as { status: string }).status).toBe("waiting");
    expect(((await (await api(`/runs/${sleeping.run_id}`, { key: secret })).json()) as { status: string }).status).toBe("running");
    expect((await api(`/runs/${other.run_id}`)).status).toBe(200);

    // The sweep a day and a minute later takes exactly the expired rows.
    await sweep(Date.now() + LATER);
    expect(await row(ended.run_id)).toBeNull();
    expect(await row(keyed.run.run_id)).toBeNull();
    for (const r of [waiting, sleeping, other]) expect(await row(r.run_id), r.run_id).not.toBeNull();
    const listed = (await (await api("/runs?limit=100", { key: secret })).json()) as { runs: { run_id: string }[] };
    expect(listed.runs.map((r) => r.run_id).sort()).toEqual([waiting.run_id, sleeping.run_id].sort());
    // The metrics are running totals: the deleted runs still count, as started and as ended.
    const metrics = await exports.default.fetch(new Request("http://crane.test/metrics", { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }));
    expect(metrics.status).toBe(200);
    const text = await metrics.text();
    expect(text).toContain(`crane_runs_started_total{tenant="${tenant}"} 4`);
    expect(text).toContain(`crane_runs_ended_total{tenant="${tenant}",status="completed"} 2`);
    expect(text).toContain(`crane_runs_in_flight{tenant="${tenant}"} 2`);
  });

  it("lets an Idempotency-Key start a new run once its run was deleted", async () => {
    const tenant = `ret-${uniq()}`;
    const { secret } = await newApiKey(tenant);
    expect((await api(`/admin/tenants/${tenant}/retention`, { method: "PUT", json: { days: 1 }, key: ADMIN_TOKEN })).status).toBe(200);
    const body = { prompt: "calculate 5 * 5" };
    const first = await post(secret, body, { "idempotency-key": "k1" });
    expect(first.status).toBe(201);
    const firstRow = (await projectedRow(first.run.run_id, "completed"))!;
    // Within the retention, the key answers with its run.
    expect((await post(secret, body, { "idempotency-key": "k1" })).status).toBe(200);
    await advanceClock(first.run.run_id, LATER);
    await watchdog(first.run.run_id);
    expect((await api(`/runs/${first.run.run_id}`, { key: secret })).status).toBe(404);
    // Used again after the deletion (the old row not swept yet): a new run with the same id, another
    // run with its own row beside the old one (another created_at: the row's key).
    const again = await post(secret, body, { "idempotency-key": "k1" });
    expect(again.status).toBe(201);
    expect(again.run.run_id).toBe(first.run.run_id);
    expect(again.run.created_at).not.toBe(first.run.created_at);
    const both = async () => (await rowsOf(first.run.run_id)).map((r) => r.created_at).sort();
    await expect.poll(both).toEqual([first.run.created_at, again.run.created_at].sort());
    // The sweep at the old run's expiry takes the old row and leaves the new run's alone.
    await sweep(Date.parse(String(firstRow.expires_at)) + 1);
    expect((await rowsOf(first.run.run_id)).map((r) => r.created_at)).toEqual([again.run.created_at]);
    // Listed once: the new run.
    const listed = (await (await api("/runs?limit=100", { key: secret })).json()) as { runs: { run_id: string; created_at: string }[] };
    expect(listed.runs.filter((r) => r.run_id === first.run.run_id).map((r) => r.created_at)).toEqual([again.run.created_at]);
  });
});
