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
    // A poll waits on a browser, a terminal or a restarted runtime on a shared, loaded CI machine:
    // vitest's default second is shorter than a page's first WebSocket replay there. Patience, not
    // a timed assertion: a poll passes as soon as the state shows.
    expect: { poll: { timeout: 15_000 } },
  },
});
