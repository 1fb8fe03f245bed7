// The local migration of the read model's shards (scripts/d1-databases.ts), which `npm run dev`
// (prepare-local.mjs), the e2e tests, the soak and the benchmark run before a start: every D1
// database of the config gets every migration, a shard just added included.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { d1Databases, migrateLocalDatabases } from "../../scripts/d1-databases.ts";

/** As src/lib/binding-series.ts names them (a Worker module, outside this Node project's types). */
const shardBinding = (i: number): string => (i === 0 ? "DB" : `DB_${i}`);
const wranglerToml = readFileSync("wrangler.toml", "utf8");
const migrations = readdirSync("migrations")
  .filter((f) => f.endsWith(".sql"))
  .sort();

describe("wrangler.toml's read-model shards", () => {
  it("binds DB, DB_1, … in order, as many as READ_MODEL_SHARDS says, at least 2, each on the project's migrations", () => {
    const shards = Number(/^READ_MODEL_SHARDS\s*=\s*"(\d+)"/m.exec(wranglerToml)?.[1]);
    expect(shards).toBeGreaterThanOrEqual(2);
    const dbs = d1Databases(wranglerToml);
    expect(dbs.map((d) => d.binding)).toEqual(Array.from({ length: shards }, (_, i) => shardBinding(i)));
    expect(new Set(dbs.map((d) => d.database_name)).size).toBe(shards);
    expect(new Set(dbs.map((d) => d.database_id)).size).toBe(shards);
    // Shard 0 keeps the name local state has always had.
    expect(dbs[0]!.database_name).toBe("crane");
    const dirs = wranglerToml
      .split(/^\s*\[/m)
      .filter((b) => b.startsWith("[d1_databases]]"))
      .map((b) => /^migrations_dir\s*=\s*"([^"]*)"/m.exec(b)?.[1]);
    expect(dirs).toEqual(dbs.map(() => "migrations"));
  });
});

describe("migrating the local databases", () => {
  const dir = mkdtempSync(join(tmpdir(), "crane-shards-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("applies every migration to each shard of the config, one added since the last start included", () => {
    // A config of 2 shards, migrated; then a third added, as a deployment adding a shard would.
    const block = (i: number) =>
      `[[d1_databases]]\nbinding = "${shardBinding(i)}"\ndatabase_name = "shard-test-${i}"\ndatabase_id = "00000000-0000-0000-0000-00000000000${i}"\nmigrations_dir = "${resolve("migrations")}"\n`;
    const config = join(dir, "wrangler.toml");
    const persistTo = join(dir, "state");
    const write = (n: number) =>
      writeFileSync(config, `name = "shard-test"\ncompatibility_date = "2026-11-01"\n\n${Array.from({ length: n }, (_, i) => block(i)).join("\n")}`);
    const applied = (name: string) => {
      const out = execFileSync(
        "wrangler",
        [
          "d1",
          "execute",
          name,
          "--local",
          "--config",
          config,
          "--persist-to",
          persistTo,
          "--json",
          "--command",
          "SELECT name FROM d1_migrations ORDER BY name",
        ],
        { encoding: "utf8", env: { ...process.env, CI: "true" } },
      );
      return (JSON.parse(out) as { results: { name: string }[] }[])[0]!.results.map((r) => r.name);
    };

    write(2);
    expect(migrateLocalDatabases({ config, persistTo, stdio: "ignore" })).toEqual(["shard-test-0", "shard-test-1"]);
    write(3);
    expect(migrateLocalDatabases({ config, persistTo, stdio: "ignore" })).toEqual(["shard-test-0", "shard-test-1", "shard-test-2"]);
    for (const name of ["shard-test-0", "shard-test-1", "shard-test-2"]) expect(applied(name), name).toEqual(migrations);
  }, 120_000);
});
