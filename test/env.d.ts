// Test-only bindings, added by vitest.config.ts on top of wrangler.toml's.
declare namespace Cloudflare {
  interface Env {
    TEST_MIGRATIONS: import("cloudflare:test").D1Migration[];
    /** A D1 of the "live" project that no setup migrates: test/migrations.test.ts migrates it step by step. */
    MIGRATION_TEST_DB: D1Database;
    /** The local MCP server test/mcp/mock-mcp-server.ts serves (http://127.0.0.1:PORT). */
    MCP_TEST_URL: string;
    /** The scripted model server test/llm/scripted-model.ts serves (http://127.0.0.1:PORT, no /v1). */
    SCRIPTED_MODEL_URL: string;
  }
}
