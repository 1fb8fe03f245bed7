import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

const migrations = await readD1Migrations("./migrations");

const bindings = {
  TEST_MIGRATIONS: migrations,
  // The local upstream the tests start listens on loopback.
  HTTP_TOOL_ALLOWLIST: "127.0.0.1:*,localhost:*",
};

/**
 * Two projects over the same Worker:
 * - "live": the real crane-steps queue and its consumer, as in production;
 * - "held": the run objects send to a queue nobody consumes (a transport that never delivers),
 *   and each test delivers, duplicates, reorders or drops the messages itself.
 */
export default defineConfig({
  test: {
    globalSetup: ["./test/upstream/global-setup.ts"],
    testTimeout: 30_000,
    // Every event logs a JSON line; show them only for failing tests.
    silent: "passed-only",
    projects: [
      {
        plugins: [cloudflareTest({ wrangler: { configPath: "./wrangler.toml" }, miniflare: { bindings } })],
        test: { name: "live", include: ["test/*.test.ts"], setupFiles: ["./test/apply-migrations.ts"] },
      },
      {
        plugins: [
          cloudflareTest({
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: { bindings, queueProducers: { STEPS: { queueName: "crane-steps-held" } } },
          }),
        ],
        test: { name: "held", include: ["test/held/*.test.ts"], setupFiles: ["./test/apply-migrations.ts"] },
      },
    ],
  },
});
