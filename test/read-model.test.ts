import { env, exports } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { app } from "../src/app";
import { forgetHealth } from "../src/api/health";
import { allShards, shardOf } from "../src/db/shards";
import { seriesBinding } from "../src/lib/binding-series";
import { rollUpMetrics } from "../src/scheduled/roll-up-metrics";
import { todoAddImpl, todoListImpl } from "../src/tools/todo-store/execute";
import { ADMIN_TOKEN, api, newApiKey, SETTLE, toolContext, uniq } from "./helpers";
import { shardDb } from "./read-model";

// The read model split across shards (src/db/shards.ts), as wrangler.toml configures it for
// `npm run dev` and every test project: each tenant on one shard, operator views over all of them.

const SHARDS = allShards(env);
const all = env.TEST_MIGRATIONS.map((m) => m.name).sort();
const calc = (expression: string) => ({ plan: { steps: [{ step_number: 1, tool: "Calculator.evaluate", input: { expression } }] } });

/** A fresh tenant whose rows live on the given shard. */
function tenantOn(shard: number): string {
  for (;;) {
    const tenant = `rm-${uniq()}`;
    if (shardOf(tenant, SHARDS.length) === shard) return tenant;
  }
}

/** Starts a calculation run that ends inside its create, and answers its id. */
async function ranRun(key: string, expression = "6 * 7"): Promise<string> {
  const res = await api("/runs?wait=5", { method: "POST", json: calc(expression), key });
  expect(res.status).toBe(201);
  const run = (await res.json()) as { run_id: string; status: string };
  expect(run.status).toBe("completed");
  return run.run_id;
}

/** Waits until the tenant's shard holds `n` of its runs, completed (a run's end is projected just after it ends). */
async function projected(tenant: string, n: number): Promise<void> {
  await vi.waitFor(async () => {
    const row = await shardDb(tenant).prepare("SELECT count(*) AS n FROM runs WHERE tenant = ? AND status = 'completed'").bind(tenant).first<{ n: number }>();
    expect(row?.n, `${tenant}'s runs on its shard`).toBe(n);
  }, SETTLE);
}

/** The tenants that have rows in `table` on each shard, among the given ones. */
async function tenantsPerShard(table: "runs" | "todos" | "metric_runs", tenants: string[]): Promise<string[][]> {
  return Promise.all(
    SHARDS.map(async (db) => {
      const { results } = await db
        .prepare(`SELECT DISTINCT tenant FROM ${table} WHERE tenant IN (${tenants.map(() => "?").join(", ")}) ORDER BY tenant`)
        .bind(...tenants)
        .all<{ tenant: string }>();
      return results.map((r) => r.tenant);
    }),
  );
}

async function listRuns(key: string, query = ""): Promise<{ runs: { run_id: string }[]; next_cursor: string | null }> {
  const res = await api(`/runs${query}`, { key });
  expect(res.status).toBe(200);
  return (await res.json()) as { runs: { run_id: string }[]; next_cursor: string | null };
}

async function startedTotal(tenant: string): Promise<number | undefined> {
  const res = await exports.default.fetch(new Request("http://crane.test/metrics", { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }));
  expect(res.status).toBe(200);
  const line = (await res.text()).split("\n").find((l) => l.startsWith(`crane_runs_started_total{tenant="${tenant}"}`));
  return line === undefined ? undefined : Number(line.split(" ").at(-1));
}

describe("a read model of several shards", () => {
  it("runs with at least 2 shards, each with every migration the tests apply", async () => {
    expect(SHARDS.length).toBeGreaterThanOrEqual(2);
    for (const db of SHARDS) {
      const { results } = await db.prepare("SELECT name FROM d1_migrations ORDER BY name").all<{ name: string }>();
      expect(results.map((r) => r.name)).toEqual(all);
    }
    // And /health says so shard by shard.
    const health = (await (await api("/health", { key: null })).json()) as { checks: Record<string, string> };
    for (let i = 0; i < SHARDS.length; i++) expect(health.checks[`d1_shard_${i}`]).toBe("ok");
  });

  it("reports on /health a shard that lacks the newest migration as behind", async () => {
    const newest = all.at(-1)!;
    const shard = SHARDS.length - 1;
    const checks = async () => {
      forgetHealth();
      const res = await api("/health", { key: null });
      return { status: res.status, checks: ((await res.json()) as { checks: Record<string, string> }).checks };
    };
    await SHARDS[shard]!.prepare("DELETE FROM d1_migrations WHERE name = ?").bind(newest).run();
    try {
      const behind = await checks();
      expect(behind.status).toBe(503);
      expect(behind.checks).toMatchObject({ d1: "failing", [`d1_shard_${shard}`]: "behind", d1_shard_0: "ok" });
    } finally {
      await SHARDS[shard]!.prepare("INSERT INTO d1_migrations (name) VALUES (?)").bind(newest).run();
    }
    expect((await checks()).checks).toMatchObject({ d1: "ok", [`d1_shard_${shard}`]: "ok" });
  });

  it("keeps two tenants on different shards apart: their runs, todos and metrics", async () => {
    const a = tenantOn(0);
    const b = tenantOn(1);
    const [ka, kb] = await Promise.all([newApiKey(a), newApiKey(b)]);
    const runsA = [await ranRun(ka.secret), await ranRun(ka.secret)];
    const runsB = [await ranRun(kb.secret), await ranRun(kb.secret), await ranRun(kb.secret)];
    await projected(a, 2);
    await projected(b, 3);

    // Each row on its tenant's shard only, and each tenant's list only its own.
    expect(await tenantsPerShard("runs", [a, b])).toEqual([[a], [b], ...SHARDS.slice(2).map(() => [])]);
    expect((await listRuns(ka.secret)).runs.map((r) => r.run_id).sort()).toEqual(runsA.sort());
    expect((await listRuns(kb.secret)).runs.map((r) => r.run_id).sort()).toEqual(runsB.sort());

    // Todos with the same title: each tenant's on its shard, each tenant lists its own.
    const title = `shared ${uniq()}`;
    const add = async (tenant: string) => {
      const r = await todoAddImpl.execute(todoAddImpl.input_schema.parse({ title }), toolContext({ tenant, idempotency_key: crypto.randomUUID() }));
      expect(r.success).toBe(true);
      return (r.output as { todo: { id: number } }).todo.id;
    };
    const todoA = await add(a);
    const todoB = await add(b);
    const list = async (tenant: string) => {
      const r = await todoListImpl.execute(todoListImpl.input_schema.parse({}), toolContext({ tenant }));
      return (r.output as { todos: { id: number; title: string }[] }).todos.filter((t) => t.title === title).map((t) => t.id);
    };
    expect(await list(a)).toEqual([todoA]);
    expect(await list(b)).toEqual([todoB]);
    expect(await tenantsPerShard("todos", [a, b])).toEqual([[a], [b], ...SHARDS.slice(2).map(() => [])]);

    // /metrics reads every shard: each tenant's count is its own, from the tail and then from the rollup.
    expect(await startedTotal(a)).toBe(2);
    expect(await startedTotal(b)).toBe(3);
    await rollUpMetrics(env);
    // The rollup ran on each shard: each tenant's totals sit on its own shard.
    expect(await tenantsPerShard("metric_runs", [a, b])).toEqual([[a], [b], ...SHARDS.slice(2).map(() => [])]);
    expect(await startedTotal(a)).toBe(2);
    expect(await startedTotal(b)).toBe(3);
  });

  it("keeps a cursor over one tenant's history stable while new runs arrive", async () => {
    // Shard 1: not the shard the control plane and the dev tenant use.
    const tenant = tenantOn(1);
    const { secret } = await newApiKey(tenant);
    const first: string[] = [];
    for (let i = 0; i < 5; i++) first.push(await ranRun(secret, `${i} + 1`));
    await projected(tenant, 5);
    const newestFirst = (await listRuns(secret, "?limit=100")).runs.map((r) => r.run_id);
    expect(newestFirst.sort()).toEqual([...first].sort());

    const page1 = await listRuns(secret, "?limit=2");
    expect(page1.next_cursor).not.toBeNull();
    // Runs made between two pages sort before the cursor: the pages after it are unchanged.
    const later = [await ranRun(secret), await ranRun(secret), await ranRun(secret)];
    await projected(tenant, 8);
    const seen = page1.runs.map((r) => r.run_id);
    let cursor = page1.next_cursor;
    while (cursor) {
      const page = await listRuns(secret, `?limit=2&cursor=${cursor}`);
      seen.push(...page.runs.map((r) => r.run_id));
      cursor = page.next_cursor;
    }
    const before = (await listRuns(secret, "?limit=100")).runs.map((r) => r.run_id);
    expect(seen).toEqual(before.filter((id) => !later.includes(id)));
    expect(new Set(seen).size).toBe(5);
    expect([...seen].sort()).toEqual([...first].sort());
    // The new runs are at the head of a fresh listing.
    expect(before.slice(0, 3).sort()).toEqual([...later].sort());
  });

  it("serves /admin/runs from every shard, merged newest first, paged without gaps or repeats", async () => {
    const tenants = [tenantOn(0), tenantOn(1), tenantOn(0), tenantOn(1)];
    // Rows as the projection writes them, on their tenants' shards, in a window of their own (2001)
    // with times that interleave the shards and two runs per time (so run_id breaks the ties).
    const rows = Array.from({ length: 13 }, (_, i) => ({
      run_id: `run_${String(i).padStart(2, "0")}${crypto.randomUUID().slice(8)}`,
      tenant: tenants[i % tenants.length]!,
      created_at: new Date(Date.UTC(2001, 0, 1, 0, 0, Math.floor(i / 2))).toISOString(),
    }));
    for (const r of rows)
      await shardDb(r.tenant)
        .prepare(
          `INSERT INTO runs (run_id, tenant, status, planner, step_count, created_at, projected_seq, projected_at) VALUES (?, ?, 'completed', 'given', 1, ?, 3, ?)`,
        )
        .bind(r.run_id, r.tenant, r.created_at, r.created_at)
        .run();
    const expected = [...rows].sort((x, y) => (x.created_at === y.created_at ? (x.run_id < y.run_id ? 1 : -1) : x.created_at < y.created_at ? 1 : -1));
    expect(new Set(expected.slice(0, 4).map((r) => shardOf(r.tenant, SHARDS.length))).size).toBe(2);

    const window = "created_after=2000-12-31T00:00:00Z&created_before=2001-01-02T00:00:00Z";
    const page = async (query: string) => {
      const res = await api(`/admin/runs?${window}&${query}`, { key: ADMIN_TOKEN });
      expect(res.status).toBe(200);
      return (await res.json()) as { runs: { run_id: string; tenant: string; created_at: string }[]; next_cursor: string | null };
    };
    const seen: { run_id: string; tenant: string }[] = [];
    let cursor: string | null = null;
    do {
      const p = await page(`limit=3${cursor ? `&cursor=${cursor}` : ""}`);
      expect(p.runs.length).toBeLessThanOrEqual(3);
      seen.push(...p.runs.map((r) => ({ run_id: r.run_id, tenant: r.tenant })));
      cursor = p.next_cursor;
    } while (cursor);
    expect(seen).toEqual(expected.map((r) => ({ run_id: r.run_id, tenant: r.tenant })));

    // One tenant's: its rows only, from its shard.
    const one = await page(`tenant=${tenants[1]}&limit=100`);
    expect(one.runs.map((r) => r.run_id)).toEqual(expected.filter((r) => r.tenant === tenants[1]).map((r) => r.run_id));
    // A bad cursor is a 400, and the tenant API key cannot read it.
    expect((await api(`/admin/runs?cursor=nope`, { key: ADMIN_TOKEN })).status).toBe(400);
    expect((await api("/admin/runs")).status).toBe(401);
  });

  it("reads a tenant's history, schedules and todos from its shard alone", async () => {
    const tenant = tenantOn(1);
    const { secret } = await newApiKey(tenant);
    await ranRun(secret);
    await ranRun(secret);
    await projected(tenant, 2);
    // The key's lookup is the control plane's (shard 0), cached for a few seconds: this request
    // makes it, so the counted requests below reach the read model only.
    await listRuns(secret);

    const touched = SHARDS.map(() => 0);
    const counted = (db: D1Database, i: number): D1Database => {
      const count =
        <A extends unknown[], R>(f: (...args: A) => R) =>
        (...args: A): R => {
          touched[i]!++;
          return f(...args);
        };
      return { prepare: count(db.prepare.bind(db)), batch: count(db.batch.bind(db)), exec: count(db.exec.bind(db)) } as unknown as D1Database;
    };
    const countingEnv = { ...env, ...Object.fromEntries(SHARDS.map((db, i) => [seriesBinding("DB", i), counted(db, i)])) } as Env;
    const get = async (path: string) => {
      const res = await app.fetch(new Request(`http://crane.test/api/v1${path}`, { headers: { authorization: `Bearer ${secret}` } }), countingEnv);
      expect(res.status, path).toBe(200);
      return res.json() as Promise<{ next_cursor?: string | null }>;
    };
    const page = await get("/runs?limit=1");
    await get(`/runs?limit=1&cursor=${page.next_cursor}`);
    await get("/runs?status=completed");
    await get("/schedules");
    await todoListImpl.execute(todoListImpl.input_schema.parse({}), toolContext({ tenant, env: countingEnv }));
    expect(touched[1]).toBeGreaterThanOrEqual(5);
    expect(touched.filter((_, i) => i !== 1)).toEqual(SHARDS.slice(1).map(() => 0));
  });
});
