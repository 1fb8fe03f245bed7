/**
 * The D1 databases a wrangler config declares (the read model's shards, src/db/shards.ts), and
 * their local migration: `npm run dev` (prepare-local.mjs), CI, the soak, the benchmark and the e2e
 * tests all migrate every database listed here, so a shard added to wrangler.toml is migrated by
 * the next start without another list to keep in step.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

export interface D1Database {
  binding: string;
  database_name: string;
  database_id: string;
}

const field = (block: string, name: string): string | undefined => block.match(new RegExp(`^\\s*${name}\\s*=\\s*"([^"]*)"`, "m"))?.[1];

/** The [[d1_databases]] tables of a wrangler.toml, in order (top-level ones: Crane has no env sections). */
export function d1Databases(configText: string): D1Database[] {
  // Each table runs from its header to the next header of any kind.
  const blocks = configText.split(/^\s*\[/m).filter((b) => b.startsWith("[d1_databases]]"));
  return blocks.map((block) => {
    const binding = field(block, "binding");
    const database_name = field(block, "database_name");
    const database_id = field(block, "database_id");
    if (!binding || !database_name || !database_id) throw new Error(`a [[d1_databases]] table lacks binding, database_name or database_id:\n[${block}`);
    return { binding, database_name, database_id };
  });
}

/** Applies the migrations to every D1 database of the config, locally (optionally in a state directory). */
export function migrateLocalDatabases(opts: { config?: string; persistTo?: string; stdio?: "inherit" | "ignore" } = {}): string[] {
  const config = opts.config ?? "wrangler.toml";
  const names = d1Databases(readFileSync(config, "utf8")).map((d) => d.database_name);
  for (const name of names) {
    const args = ["d1", "migrations", "apply", name, "--local", "--config", config];
    if (opts.persistTo) args.push("--persist-to", opts.persistTo);
    execFileSync("wrangler", args, { stdio: opts.stdio ?? "inherit", env: { ...process.env, CI: "true" } });
  }
  return names;
}
