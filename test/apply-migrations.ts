import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterAll } from "vitest";
import { settleRuns } from "./helpers";

// Setup files run before each test file; applying is idempotent (applied migrations are recorded).
await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);

// Every file ends what it started, so nothing outlives the file and writes after teardown.
afterAll(settleRuns, 20_000);
