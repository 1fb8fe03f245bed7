// D1 holds two things: the run history (a read model projected from each run object's events,
// written at creation and at the end of a run) and the todo store used by the TodoStore tools.
// `projected_seq` is the last run event a row reflects; projections only move it forward, so
// replaying one changes nothing.
import { sql } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

export const runs = sqliteTable(
  "runs",
  {
    // The row's place in write order, D1's rowid under an explicit name so that no VACUUM, export
    // or import renumbers it. The metric rollup (src/scheduled/roll-up-metrics.ts) has taken every
    // row up to its watermark; a new row always gets a larger seq than any row there is, and the
    // retention sweep never deletes the row at the watermark, so a new row is always above it.
    seq: integer("seq").primaryKey(),
    // Unique through the (tenant, created_at, run_id) index below, which is also the projection's
    // conflict target: an index of its own would be one more D1 row written by every run.
    run_id: text("run_id").notNull(),
    // The tenant whose API key created the run; lists only ever show a tenant its own runs.
    // Rows from before tenants existed get "" and belong to nobody.
    tenant: text("tenant").notNull().default(""),
    prompt: text("prompt"),
    status: text("status").notNull(),
    planner: text("planner").notNull(),
    fallback_reason: text("fallback_reason"),
    step_count: integer("step_count").notNull(),
    result: text("result"),
    error_code: text("error_code"),
    error_message: text("error_message"),
    created_at: text("created_at").notNull(),
    started_at: text("started_at"),
    completed_at: text("completed_at"),
    projected_seq: integer("projected_seq").notNull(),
    // The ended run's steps as JSON ([{ step_number, tool, status, attempts, error_code, started_at,
    // completed_at, duration_ms, llm? }]; an agent step's `llm` is its model usage, for GET /metrics):
    // one row per run keeps the end-of-run projection one statement.
    // Runs projected before this column existed have their steps in the `steps` table instead.
    steps: text("steps"),
    // The schedule occurrence that started the run (null for runs started otherwise).
    schedule_id: text("schedule_id"),
    scheduled_for: text("scheduled_for"),
    // When the retention sweep deletes the row: the end of the run plus its retention (the run
    // object deletes its own storage at the same instant). Null while the run is in flight, and
    // for runs projected before retention existed.
    expires_at: text("expires_at"),
    // The plan's tools, comma-separated with a comma at each end (",Http.get,TodoStore.add,"), so
    // a bulk job's tool filter is one instr(); written with the plan, in the same statement.
    tools: text("tools"),
    // A rerun: the run it was forked from (POST /runs/{id}/rerun).
    rerun_of: text("rerun_of"),
    // When D1 took the row's latest projection (D1's clock, in the same statement): the metric
    // rollup measures projection lag from the run's end to here.
    projected_at: text("projected_at"),
  },
  // Lists are per tenant, newest first. A status filter walks that index and skips: rows read
  // cost a thousandth of rows written, and a second index was two more rows written per run end.
  // It is unique, and is the key a run's row is written by (src/db/run-rows.ts): a run's tenant and
  // creation time never change. A run id used again after its run was deleted (an Idempotency-Key,
  // after the retention) is another run, with another created_at: its own row.
  // The retention sweep reads the second, which holds ended runs only (one entry per run end).
  (t) => [
    uniqueIndex("runs_tenant_created_idx").on(t.tenant, t.created_at, t.run_id),
    index("runs_expires_idx")
      .on(t.expires_at)
      .where(sql`${t.expires_at} IS NOT NULL`),
  ],
);

/** Step rows of runs projected before `runs.steps` existed; read by /metrics, no longer written. */
export const steps = sqliteTable(
  "steps",
  {
    run_id: text("run_id").notNull(),
    step_number: integer("step_number").notNull(),
    tool: text("tool").notNull(),
    status: text("status").notNull(),
    attempts: integer("attempts").notNull(),
    error_code: text("error_code"),
    started_at: text("started_at"),
    completed_at: text("completed_at"),
    duration_ms: integer("duration_ms"),
    projected_seq: integer("projected_seq").notNull(),
  },
  // No secondary index: nothing queries steps by anything but the run, and every index entry is a
  // D1 row written per step.
  (t) => [primaryKey({ columns: [t.run_id, t.step_number] })],
);

/**
 * `created_by`, `completed_by` and `deleted_by` hold the (run, step) key of the step that did it,
 * so a re-executed step finds its own earlier effect instead of repeating it.
 */
export const todos = sqliteTable(
  "todos",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    // Each tenant has its own todo list; every TodoStore query is scoped to the run's tenant.
    tenant: text("tenant").notNull().default(""),
    title: text("title").notNull(),
    status: text("status", { enum: ["open", "done"] })
      .notNull()
      .default("open"),
    created_at: text("created_at").notNull(),
    completed_at: text("completed_at"),
    deleted_at: text("deleted_at"),
    created_by: text("created_by").unique(),
    completed_by: text("completed_by"),
    deleted_by: text("deleted_by"),
  },
  (t) => [index("todos_tenant_status_idx").on(t.tenant, t.status, t.id)],
);

export type TodoRow = typeof todos.$inferSelect;

/**
 * API keys. Only the SHA-256 of a key's secret is stored: a leaked table lets no one in. `prefix`
 * (the secret's first characters) lets people tell their keys apart in listings.
 */
export const apiKeys = sqliteTable(
  "api_keys",
  {
    id: text("id").primaryKey(),
    name: text("name").notNull(),
    tenant: text("tenant").notNull(),
    hash: text("hash").notNull().unique(),
    prefix: text("prefix").notNull(),
    created_at: text("created_at").notNull(),
    revoked_at: text("revoked_at"),
  },
  (t) => [index("api_keys_tenant_idx").on(t.tenant, t.created_at)],
);

export type ApiKeyRow = typeof apiKeys.$inferSelect;

/**
 * The index of each tenant's schedules, for listing and the MAX_SCHEDULES cap. Written on create,
 * change and delete only; the schedule's object is the source of truth for its state (next run,
 * recent runs), and firing an occurrence never reads this table.
 */
export const schedules = sqliteTable(
  "schedules",
  {
    schedule_id: text("schedule_id").primaryKey(),
    tenant: text("tenant").notNull(),
    name: text("name"),
    cron: text("cron").notNull(),
    timezone: text("timezone").notNull(),
    overlap: text("overlap", { enum: ["skip", "allow"] }).notNull(),
    paused: integer("paused", { mode: "boolean" }).notNull(),
    prompt: text("prompt"),
    created_at: text("created_at").notNull(),
    updated_at: text("updated_at").notNull(),
  },
  (t) => [index("schedules_tenant_created_idx").on(t.tenant, t.created_at, t.schedule_id)],
);

export type ScheduleRow = typeof schedules.$inferSelect;

/**
 * A tenant's MCP servers, whose tools join its catalogue as `mcp.<name>.<tool>`. Written rarely
 * (register, refresh, a tool list that changed), read through a short per-isolate cache.
 * `headers` holds the header values sealed with AES-GCM (src/tools/mcp/header-crypto.ts): the
 * plaintext is never stored and never answered, only the header names are.
 */
export const mcpServers = sqliteTable(
  "mcp_servers",
  {
    tenant: text("tenant").notNull(),
    name: text("name").notNull(),
    url: text("url").notNull(),
    // "streamable-http" or "sse": the transport that answered at registration, used from then on.
    transport: text("transport", { enum: ["streamable-http", "sse"] }).notNull(),
    // JSON: { names: string[], iv: base64, sealed: base64 } or null when there are no headers.
    headers: text("headers"),
    // JSON: the server's tools as its last tools/list gave them ({ name, description, input_schema }[]).
    tools: text("tools").notNull(),
    created_at: text("created_at").notNull(),
    refreshed_at: text("refreshed_at").notNull(),
    last_error: text("last_error"),
  },
  (t) => [primaryKey({ columns: [t.tenant, t.name] })],
);

export type McpServerRow = typeof mcpServers.$inferSelect;

/**
 * Settings an operator gives one tenant (the admin API), read with the tenant's API key in the
 * same statement, so a request pays nothing more for them. A tenant without a row has the defaults.
 */
export const tenantSettings = sqliteTable("tenant_settings", {
  tenant: text("tenant").primaryKey(),
  // Days a run is kept once it ended; RUN_RETENTION_DAYS for tenants without one.
  run_retention_days: integer("run_retention_days").notNull(),
  updated_at: text("updated_at").notNull(),
});

/**
 * Each circuit breaker's state as of its last transition, written by the breaker itself (one
 * statement per transition, src/durable/breaker/breaker-record.ts), so GET /metrics reads every
 * breaker in one query instead of one request to each. Breakers are not per shard of tenants: this
 * table lives in the first database. `version` is the breaker's count of transitions: a write lands
 * only over an older one, so two writes that cross leave the newer.
 */
export const breakerStates = sqliteTable(
  "breaker_states",
  {
    tenant: text("tenant").notNull(),
    tool: text("tool").notNull(),
    state: text("state", { enum: ["closed", "open", "half_open"] }).notNull(),
    // Transitions into each state since the breaker was made.
    to_closed: integer("to_closed").notNull(),
    to_open: integer("to_open").notNull(),
    to_half_open: integer("to_half_open").notNull(),
    version: integer("version").notNull(),
    changed_at: text("changed_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.tenant, t.tool] })],
);

export type BreakerStateRow = typeof breakerStates.$inferSelect;
