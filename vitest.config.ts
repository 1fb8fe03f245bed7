import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

const migrations = await readD1Migrations("./migrations");

export default defineConfig({
  plugins: [
    cloudflareTest({
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: {
        bindings: {
          TEST_MIGRATIONS: migrations,
          // The local upstream the tests start listens on loopback.
          HTTP_TOOL_ALLOWLIST: "127.0.0.1:*,localhost:*",
        },
      },
    }),
  ],
  test: {
    globalSetup: ["./test/upstream/global-setup.ts"],
    setupFiles: ["./test/apply-migrations.ts"],
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    // Every event logs a JSON line; show them only for failing tests.
    silent: "passed-only",
  },
});
