import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { mockUrl, startMockOpenAI } from "./test/llm/mock-openai.ts";
import { scriptedModelUrl, startScriptedModel } from "./test/llm/scripted-model.ts";
import { mcpMockUrl, startMockMcp } from "./test/mcp/mock-mcp-server.ts";
import { collectorUrl, startCollector } from "./test/otel/collector.ts";

const migrations = await readD1Migrations("./migrations");

// The "llm" project's model provider: a local server speaking the OpenAI wire protocol, started
// with the config so its address can be a binding. It lives as long as the test run.
const mockLlm = await startMockOpenAI();
// A real MCP server (the official SDK's), on loopback, for the MCP tests of every project.
const mockMcp = await startMockMcp();
// The "otel" project's OTLP collector: a local server decoding OTLP/HTTP JSON, on loopback.
const collector = await startCollector();
// Its own model server: the "llm" project counts the requests its server gets, and runs alongside.
const otelLlm = await startMockOpenAI();
// The agent loop's model: answers each test from the script the test registers (keyed by model name).
const scriptedModel = await startScriptedModel();

const bindings = {
  TEST_MIGRATIONS: migrations,
  // The local upstream the tests start listens on loopback.
  HTTP_TOOL_ALLOWLIST: "127.0.0.1:*,localhost:*",
  // Breakers stay on (every step passes through them) but out of the way of tests about other things.
  BREAKER_CONFIG: JSON.stringify({ "*": { failure_threshold: 1000, window_min_calls: 10_000 } }),
  // As in .dev.vars: the dev tenant's key (test/helpers.ts sends it) and the admin token.
  DEV_API_KEY: "crane_dev_key",
  ADMIN_TOKEN: "test_admin_token",
  // A test-only key for sealing MCP server headers (deployed, it is a secret).
  MCP_HEADER_KEY: "dGVzdC1vbmx5LW1jcC1oZWFkZXIta2V5LTMyYnl0ZXM=",
  MCP_TEST_URL: mcpMockUrl(mockMcp),
  SCRIPTED_MODEL_URL: scriptedModelUrl(scriptedModel),
  // Bulk jobs wait between pages for longer than any test: the tests run each page's alarm themselves.
  BULK_PAGE_DELAY_MS: "3600000",
};

// The breaker tests' own settings: trip after 3 failures, cool down for 5 s (doubling up to 12 s).
// A breaker tells its waiting runs the first batch at once and the next ones an hour apart, longer
// than any test: the tests run each later batch's alarm themselves.
const breakerBindings = {
  ...bindings,
  BREAKER_CONFIG: JSON.stringify({
    "*": { failure_threshold: 3, window_min_calls: 6, cooldown_ms: 5000, max_cooldown_ms: 12_000, wake_interval_ms: 3_600_000 },
  }),
};

// Agent tests: the model is the scripted server; prices for the models dollar budgets name.
const agentBindings = {
  ...bindings,
  LLM_BASE_URL: `${scriptedModelUrl(scriptedModel)}/v1`,
  LLM_MODEL: "agent-default",
  // A call the tenant's cap turned away looks again this soon, so a test sees the cap raised.
  LLM_BUDGET_RECHECK_MS: "1000",
  LLM_PRICES: JSON.stringify({
    "priced-budget": { input_per_million: 1000, output_per_million: 2000 },
    "priced-cap": { input_per_million: 1000, output_per_million: 2000 },
    // test/agent/agent-metrics.test.ts's own, so its script never replaces another file's.
    "priced-metrics": { input_per_million: 1000, output_per_million: 2000 },
  }),
};

// Tests poll runs every few milliseconds with one key: only the "limits" project meets a real limit.
const unlimited = { API_RATE_LIMIT: { namespace_id: "1001", simple: { limit: 100_000_000, period: 60 as const } } };

// Every step queue (STEPS, STEPS_1: STEP_QUEUE_SHARDS in wrangler.toml) sends to one queue nobody consumes.
const heldSteps = { STEPS: { queueName: "crane-steps-held" }, STEPS_1: { queueName: "crane-steps-held" } };

// Projects do not inherit the root test options: each gets these.
const perProject = { testTimeout: 30_000, silent: "passed-only" as const };

/**
 * Projects over the same Worker:
 * - "live": the real crane-steps and crane-webhooks queues and their consumer, as in production
 *   (save webhook retries, which the webhook tests deliver themselves);
 * - "held": the run objects send to a queue nobody consumes (a transport that never delivers),
 *   and each test delivers, duplicates, reorders or drops the messages itself;
 * - "breaker": the live setup with circuit breakers that trip quickly;
 * - "llm": the live setup with the LLM planner pointed at a local OpenAI-compatible server;
 * - "limits": the live setup with a per-key rate limit small enough for tests to reach;
 * - "otel": the live setup exporting spans to a local OTLP collector (and the LLM planner on, for its span).
 */
export default defineConfig({
  test: {
    globalSetup: ["./test/upstream/global-setup.ts", "./test/webhooks/global-setup.ts"],
    testTimeout: 30_000,
    // Vitest's default on this 2-core machine is one file at a time (cores - 1), and several files
    // spend seconds waiting on time they cannot move (the rate limit's window, queue hops): with
    // three at once, one file's waiting is another's running.
    maxWorkers: 3,
    // Every event logs a JSON line; show them only for failing tests.
    silent: "passed-only",
    projects: [
      {
        plugins: [
          cloudflareTest({
            wrangler: { configPath: "./wrangler.toml" },
            // Webhook retries go to a queue nobody consumes: test/webhooks.test.ts delivers each when it moves the clock.
            // MIGRATION_TEST_DB: a D1 no setup migrates, for test/migrations.test.ts to migrate step by step.
            miniflare: {
              bindings,
              ratelimits: unlimited,
              queueProducers: { WEBHOOK_RETRIES: { queueName: "crane-webhooks-held" } },
              d1Databases: { MIGRATION_TEST_DB: "crane-migration-test" },
            },
          }),
        ],
        test: { ...perProject, name: "live", include: ["test/*.test.ts"], setupFiles: ["./test/apply-migrations.ts"] },
      },
      {
        plugins: [
          cloudflareTest({
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: { bindings, ratelimits: unlimited, queueProducers: heldSteps },
          }),
        ],
        test: { ...perProject, name: "held", include: ["test/held/*.test.ts"], setupFiles: ["./test/apply-migrations.ts"] },
      },
      {
        plugins: [
          cloudflareTest({
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: {
              bindings: { ...bindings, LLM_BASE_URL: `${mockUrl(mockLlm)}/v1`, LLM_MODEL: "valid-parallel", PLANNER_BUDGET_MS: "1500" },
              ratelimits: unlimited,
            },
          }),
        ],
        test: { ...perProject, name: "llm", include: ["test/llm/*.test.ts"], setupFiles: ["./test/apply-migrations.ts"] },
      },
      {
        plugins: [cloudflareTest({ wrangler: { configPath: "./wrangler.toml" }, miniflare: { bindings: breakerBindings, ratelimits: unlimited } })],
        test: { ...perProject, name: "breaker", include: ["test/breaker/*.test.ts"], setupFiles: ["./test/apply-migrations.ts"] },
      },
      {
        plugins: [
          cloudflareTest({
            wrangler: { configPath: "./wrangler.toml" },
            // A limit small enough to reach and a 10 s window short enough to wait out.
            miniflare: {
              bindings: { ...bindings, API_RATE_LIMIT_PERIOD_S: "10" },
              ratelimits: { API_RATE_LIMIT: { namespace_id: "1001", simple: { limit: 5, period: 10 } } },
            },
          }),
        ],
        test: { ...perProject, name: "limits", include: ["test/limits/*.test.ts"], setupFiles: ["./test/apply-migrations.ts"] },
      },
      {
        plugins: [
          cloudflareTest({
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: {
              bindings: {
                ...bindings,
                OTEL_EXPORTER_OTLP_ENDPOINT: collectorUrl(collector),
                LLM_BASE_URL: `${mockUrl(otelLlm)}/v1`,
                LLM_MODEL: "valid-parallel",
                PLANNER_BUDGET_MS: "1500",
              },
              ratelimits: unlimited,
            },
          }),
        ],
        test: { ...perProject, name: "otel", include: ["test/otel/*.test.ts"], setupFiles: ["./test/apply-migrations.ts"] },
      },
      // The tenant's cap under a burst, with the shards wrangler.toml sets and with one (the exact limiter).
      {
        plugins: [cloudflareTest({ wrangler: { configPath: "./wrangler.toml" }, miniflare: { bindings, ratelimits: unlimited } })],
        test: { ...perProject, name: "admission", include: ["test/admission/*.test.ts"], setupFiles: ["./test/apply-migrations.ts"] },
      },
      {
        plugins: [
          cloudflareTest({
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: { bindings: { ...bindings, TENANT_SLOT_SHARDS: "1" }, ratelimits: unlimited },
          }),
        ],
        test: { ...perProject, name: "admission-k1", include: ["test/admission/*.test.ts"], setupFiles: ["./test/apply-migrations.ts"] },
      },
      // A run's end through the read-model queues rather than straight to D1 (wrangler.toml ships "direct").
      {
        plugins: [
          cloudflareTest({
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: { bindings: { ...bindings, READ_MODEL_END_ROWS: "queued" }, ratelimits: unlimited },
          }),
        ],
        test: { ...perProject, name: "queued-ends", include: ["test/queued-ends/*.test.ts"], setupFiles: ["./test/apply-migrations.ts"] },
      },
      // Agent.run against the scripted model server (the script is picked by the model's name), with the real queue and consumer.
      {
        plugins: [cloudflareTest({ wrangler: { configPath: "./wrangler.toml" }, miniflare: { bindings: agentBindings, ratelimits: unlimited } })],
        test: { ...perProject, name: "agent", include: ["test/agent/*.test.ts"], setupFiles: ["./test/apply-migrations.ts"] },
      },
      // The same, with the queue held: the tests deliver, duplicate and drop the messages themselves.
      {
        plugins: [
          cloudflareTest({
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: { bindings: agentBindings, ratelimits: unlimited, queueProducers: heldSteps },
          }),
        ],
        test: { ...perProject, name: "agent-held", include: ["test/agent-held/*.test.ts"], setupFiles: ["./test/apply-migrations.ts"] },
      },
      // The tenant's daily LLM spend cap (LlmBudget), in a Worker of its own until the object is in wrangler.toml.
      {
        plugins: [cloudflareTest({ wrangler: { configPath: "./test/llm-budget/wrangler.toml" } })],
        test: { ...perProject, name: "llm-budget", include: ["test/llm-budget/*.test.ts"] },
      },
      // Plain Node, for checks that cannot run in workerd (the OpenAPI validator compiles code).
      { test: { ...perProject, name: "node", include: ["test/node/*.test.ts"], environment: "node" } },
    ],
  },
});
