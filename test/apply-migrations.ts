import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterAll } from "vitest";
import { allShards } from "../src/db/shards";
import { settleRuns } from "./helpers";

// Every project runs with wrangler.toml's read-model shards (at least 2), so the sharded path is the
// tested path. Setup files run before each test file; applying is idempotent (applied migrations are recorded).
const shards = allShards(env);
if (shards.length < 2) throw new Error(`the tests need at least 2 read-model shards (READ_MODEL_SHARDS is ${env.READ_MODEL_SHARDS})`);
for (const db of shards) await applyD1Migrations(db, env.TEST_MIGRATIONS);

// Every file ends what it started, so nothing outlives the file and writes after teardown.
afterAll(settleRuns, 20_000);
