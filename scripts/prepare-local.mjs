// Runs before `npm run dev`: local defaults in place, local D1 migrated. Safe to run every time.
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync } from "node:fs";

if (!existsSync(".dev.vars")) {
  copyFileSync(".dev.vars.example", ".dev.vars");
  console.log("created .dev.vars from .dev.vars.example");
}
// npm puts node_modules/.bin first on PATH, so this is the project's wrangler under Node 22.
execFileSync("wrangler", ["d1", "migrations", "apply", "crane", "--local"], { stdio: "inherit", env: { ...process.env, CI: "true" } });
