// Migrations over data, on a D1 that no setup migrates: 0015 (one index fewer on runs) keeps the
// metric rollup's pending runs, rekeyed from run_id to the row's seq, and makes the lists' key unique.
import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

const db = env.MIGRATION_TEST_DB;
const upTo = (tag: string) => env.TEST_MIGRATIONS.filter((m) => m.name < tag);

describe("migration 0015_runs_one_key", () => {
  it("moves the pending runs to their rows' seq, drops the run_id index and makes (tenant, created_at, run_id) unique", async () => {
    await applyD1Migrations(db, upTo("0015"));
    const insert = (seq: number, runId: string, status: string) =>
      db
        .prepare(`INSERT INTO runs (seq, run_id, tenant, status, planner, step_count, created_at, projected_seq) VALUES (?, ?, 'acme', ?, 'rules', 1, ?, 1)`)
        .bind(seq, runId, status, `2026-12-08T0${seq}:00:00.000Z`)
        .run();
    await insert(1, "run-done", "completed");
    await insert(2, "run-going", "running");
    await insert(3, "run-resumed", "running");
    await db.prepare("UPDATE metric_watermark SET seq = 3").run();
    // Pending before 0015: by run id, one with the summaries of an ending it counted.
    await db.prepare(`INSERT INTO metric_pending (run_id, prev) VALUES ('run-going', NULL), ('run-resumed', '[{"step_number":1}]')`).run();

    await applyD1Migrations(db, env.TEST_MIGRATIONS);
    const pending = await db.prepare("SELECT seq, prev FROM metric_pending ORDER BY seq").all();
    expect(pending.results).toEqual([
      { seq: 2, prev: null },
      { seq: 3, prev: '[{"step_number":1}]' },
    ]);
    const indexes = await db.prepare(`SELECT name, "unique" AS u FROM pragma_index_list('runs') ORDER BY name`).all<{ name: string; u: number }>();
    expect(indexes.results.map((i) => [i.name, i.u])).toEqual([
      ["runs_expires_idx", 0],
      ["runs_tenant_created_idx", 1],
    ]);
    // The trigger for a resumed run reads metric_pending by seq: an ended run the rollup took, resumed, is pending again.
    await db.prepare(`UPDATE runs SET status = 'completed', completed_at = '2026-12-08T02:00:01.000Z', steps = '[]' WHERE seq = 2`).run();
    await db.prepare("DELETE FROM metric_pending WHERE seq = 2").run();
    await db.prepare(`UPDATE runs SET status = 'running', completed_at = NULL WHERE seq = 2`).run();
    expect(await db.prepare("SELECT seq, prev FROM metric_pending WHERE seq = 2").first()).toEqual({ seq: 2, prev: "[]" });
  });
});
