// Runs before `npm run dev`: local defaults in place, local D1 migrated. Safe to run every time.
import { appendFileSync, copyFileSync, existsSync, readFileSync } from "node:fs";
import { migrateLocalDatabases } from "./d1-databases.ts";

if (!existsSync(".dev.vars")) {
  copyFileSync(".dev.vars.example", ".dev.vars");
  console.log("created .dev.vars from .dev.vars.example");
} else {
  // An older .dev.vars gains the settings added to the example since (say, DEV_API_KEY), so a
  // checkout that moved forward still starts with working local credentials. Existing values stay.
  const names = (text) => new Set([...text.matchAll(/^([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]));
  const have = names(readFileSync(".dev.vars", "utf8"));
  const missing = readFileSync(".dev.vars.example", "utf8")
    .split("\n")
    .filter((line) => /^[A-Z][A-Z0-9_]*=/.test(line) && !have.has(line.split("=")[0]));
  if (missing.length) {
    appendFileSync(".dev.vars", `\n# added from .dev.vars.example\n${missing.join("\n")}\n`);
    console.log(`added ${missing.map((l) => l.split("=")[0]).join(", ")} to .dev.vars from .dev.vars.example`);
  }
}
// Every D1 database in wrangler.toml (each read-model shard) gets its migrations, so a shard added
// there is migrated by the next `npm run dev`. npm puts node_modules/.bin first on PATH, so this is
// the project's wrangler under Node 22 (which also runs the .ts module as is).
migrateLocalDatabases();
