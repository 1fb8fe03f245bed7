import { defineConfig } from "vitest/config";

// End-to-end tests in Node against a real `wrangler dev` (started by the global setup).
export default defineConfig({
  test: {
    include: ["test/e2e/*.test.ts"],
    globalSetup: ["./test/e2e/global-setup.ts"],
    environment: "node",
    testTimeout: 90_000,
    hookTimeout: 120_000,
    fileParallelism: false,
  },
});
