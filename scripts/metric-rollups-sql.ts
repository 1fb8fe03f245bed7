// Prints the SQL of the metric rollups migration: tables, bucket bounds, the triggers on `runs`
// that keep the rollups, and a backfill of the runs already there. The end-of-run rollup is the
// same SQL in each trigger and in the backfill, so it is written once here over a row source.
//   node scripts/metric-rollups-sql.ts > migrations/NNNN_metric_rollups.sql
import { METRIC_BOUNDS } from "../src/db/metric-rollups.ts";

const TERMINAL = "('completed','failed','cancelled')";
const BREAK = "\n--> statement-breakpoint\n";

const tables = [
  `CREATE TABLE metric_bounds (family TEXT NOT NULL, le REAL NOT NULL, le_text TEXT NOT NULL, PRIMARY KEY (family, le)) WITHOUT ROWID`,
  `CREATE TABLE metric_runs (tenant TEXT NOT NULL, planner TEXT NOT NULL, fallback_reason TEXT NOT NULL,
  started INTEGER NOT NULL DEFAULT 0, resumed INTEGER NOT NULL DEFAULT 0,
  completed INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0, cancelled INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant, planner, fallback_reason)) WITHOUT ROWID`,
  `CREATE TABLE metric_steps (tenant TEXT NOT NULL, tool TEXT NOT NULL,
  succeeded INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0, skipped INTEGER NOT NULL DEFAULT 0,
  cancelled INTEGER NOT NULL DEFAULT 0, retries INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant, tool)) WITHOUT ROWID`,
  `CREATE TABLE metric_step_failures (tenant TEXT NOT NULL, tool TEXT NOT NULL, code TEXT NOT NULL, n INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant, tool, code)) WITHOUT ROWID`,
  `CREATE TABLE metric_histograms (family TEXT NOT NULL, tenant TEXT NOT NULL, tool TEXT NOT NULL, le TEXT NOT NULL,
  count INTEGER NOT NULL DEFAULT 0, sum REAL NOT NULL DEFAULT 0,
  PRIMARY KEY (family, tenant, tool, le)) WITHOUT ROWID`,
  `CREATE TABLE metric_resumed (run_id TEXT PRIMARY KEY, steps TEXT) WITHOUT ROWID`,
  `CREATE TABLE metric_rate_limited (tenant TEXT NOT NULL, reason TEXT NOT NULL, n INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant, reason)) WITHOUT ROWID`,
];

const bounds = Object.entries(METRIC_BOUNDS).map(
  ([family, les]) => `INSERT INTO metric_bounds (family, le, le_text) VALUES ${les.map((le) => `('${family}', ${le}, '${le}')`).join(", ")}`,
);

/** The stored bucket of a value `v` (seconds) in a family: its smallest bound at or above it. */
const bucket = (family: string, v: string) =>
  `coalesce((SELECT b.le_text FROM metric_bounds b WHERE b.family = '${family}' AND b.le >= ${v} ORDER BY b.le LIMIT 1), '+Inf')`;

const j = (field: string) => `json_extract(j.value, '$.${field}')`;

/**
 * The steps an ending counts: every step of the run's step summaries (`steps`), except those that
 * had already succeeded in the summaries of its previous ending (`prev`, set for a resumed run),
 * which that ending counted, and those a rerun took over from the run it forks (`reused`), which ran
 * and were counted there. A step skipped because the run was cancelled counts as cancelled
 * (summaries written before skip_reason existed: any skipped step of a cancelled run).
 */
const stepsOf = (src: string) => `SELECT r.tenant AS tenant, ${j("tool")} AS tool,
    CASE WHEN ${j("status")} = 'skipped' AND coalesce(${j("skip_reason")} = 'cancelled', r.status = 'cancelled') THEN 'cancelled' ELSE ${j("status")} END AS outcome,
    ${j("attempts")} AS attempts, ${j("error_code")} AS error_code, ${j("duration_ms")} AS duration_ms, ${j("queue_ms")} AS queue_ms
  FROM ${src} AS r, json_each(r.steps) AS j
  WHERE r.status IN ${TERMINAL} AND coalesce(${j("reused")}, 0) = 0 AND NOT EXISTS (
    SELECT 1 FROM json_each(r.prev) AS p
    WHERE json_extract(p.value, '$.step_number') = ${j("step_number")} AND json_extract(p.value, '$.status') = 'succeeded')`;

const histogram = (family: string, rows: string) => `INSERT INTO metric_histograms (family, tenant, tool, le, count, sum)
  SELECT '${family}', tenant, tool, le, count(*), sum(v) FROM (SELECT tenant, tool, v, ${bucket(family, "v")} AS le FROM (${rows}))
  WHERE true GROUP BY tenant, tool, le
  ON CONFLICT (family, tenant, tool, le) DO UPDATE SET count = count + excluded.count, sum = sum + excluded.sum`;

/**
 * What the end of a run adds, given a row source with the run's tenant, status, created_at,
 * completed_at, steps, prev (see stepsOf) and lag (seconds from its end to this write, or NULL).
 */
const endOfRun = (src: string) => [
  `INSERT INTO metric_steps (tenant, tool, succeeded, failed, skipped, cancelled, retries)
  SELECT tenant, tool, sum(outcome = 'succeeded'), sum(outcome = 'failed'), sum(outcome = 'skipped'), sum(outcome = 'cancelled'),
    sum(max(coalesce(attempts, 0) - 1, 0))
  FROM (${stepsOf(src)}) WHERE true GROUP BY tenant, tool
  ON CONFLICT (tenant, tool) DO UPDATE SET succeeded = succeeded + excluded.succeeded, failed = failed + excluded.failed,
    skipped = skipped + excluded.skipped, cancelled = cancelled + excluded.cancelled, retries = retries + excluded.retries`,
  `INSERT INTO metric_step_failures (tenant, tool, code, n)
  SELECT tenant, tool, coalesce(error_code, 'unknown'), count(*) FROM (${stepsOf(src)}) WHERE outcome = 'failed' GROUP BY tenant, tool, coalesce(error_code, 'unknown')
  ON CONFLICT (tenant, tool, code) DO UPDATE SET n = n + excluded.n`,
  histogram("step_duration", `SELECT tenant, tool, duration_ms / 1000.0 AS v FROM (${stepsOf(src)}) WHERE duration_ms IS NOT NULL`),
  histogram("queue_lag", `SELECT tenant, tool, queue_ms / 1000.0 AS v FROM (${stepsOf(src)}) WHERE queue_ms IS NOT NULL`),
  histogram(
    "run_duration",
    `SELECT tenant, '' AS tool, max(0, (julianday(completed_at) - julianday(created_at)) * 86400.0) AS v
    FROM ${src} WHERE status IN ${TERMINAL} AND completed_at IS NOT NULL`,
  ),
  histogram("projection_lag", `SELECT tenant, '' AS tool, lag AS v FROM ${src} WHERE status IN ${TERMINAL} AND lag IS NOT NULL`),
];

/** One row, the trigger's NEW, as a row source; `prev` is the summaries an earlier ending counted. */
const newRow = (prev: string) =>
  `(SELECT NEW.tenant AS tenant, NEW.status AS status, NEW.created_at AS created_at, NEW.completed_at AS completed_at, NEW.steps AS steps,
    ${prev} AS prev, max(0, (julianday('now') - julianday(NEW.completed_at)) * 86400.0) AS lag)`;

const isTerminal = (row: "NEW" | "OLD") => `${row}.status IN ${TERMINAL}`;

const runCounts = (
  started: string,
  resumed: string,
  ends: boolean,
) => `INSERT INTO metric_runs (tenant, planner, fallback_reason, started, resumed, completed, failed, cancelled)
  VALUES (NEW.tenant, NEW.planner, coalesce(NEW.fallback_reason, ''), ${started}, ${resumed},
    ${ends ? "NEW.status = 'completed', NEW.status = 'failed', NEW.status = 'cancelled'" : "0, 0, 0"})
  ON CONFLICT (tenant, planner, fallback_reason) DO UPDATE SET started = started + excluded.started, resumed = resumed + excluded.resumed,
    completed = completed + excluded.completed, failed = failed + excluded.failed, cancelled = cancelled + excluded.cancelled`;

const trigger = (name: string, when: string, body: string[]) => `CREATE TRIGGER ${name} ${when}
BEGIN
${body.map((s) => `  ${s};`).join("\n")}
END`;

const triggers = [
  // A run's first row: it started (and, if it ended inside its create, it ended).
  trigger("metric_run_inserted", "AFTER INSERT ON runs", [runCounts("1", "0", true), ...endOfRun(newRow("NULL"))]),
  // An ended run resumed: it is in flight again. Its summaries are kept until it ends again, so
  // that ending counts only the steps it ran again.
  trigger("metric_run_resumed", `AFTER UPDATE OF status ON runs WHEN ${isTerminal("OLD")} AND NOT ${isTerminal("NEW")}`, [
    runCounts("0", "1", false),
    `INSERT OR REPLACE INTO metric_resumed (run_id, steps) VALUES (NEW.run_id, OLD.steps)`,
  ]),
  // A run ended: from in flight, or (its resume's projection overtaken by this one) again.
  trigger(
    "metric_run_ended",
    `AFTER UPDATE OF status, completed_at ON runs WHEN ${isTerminal("NEW")} AND (NOT ${isTerminal("OLD")} OR NEW.completed_at IS NOT OLD.completed_at)`,
    [
      runCounts("0", `${isTerminal("OLD")}`, true),
      ...endOfRun(newRow(`CASE WHEN ${isTerminal("OLD")} THEN OLD.steps ELSE (SELECT steps FROM metric_resumed WHERE run_id = NEW.run_id) END`)),
      `DELETE FROM metric_resumed WHERE run_id = NEW.run_id`,
    ],
  ),
];

/** The runs already recorded, counted as the triggers would have (their projection lag is unknown). */
const legacySteps = `(SELECT json_group_array(json_object('step_number', s.step_number, 'tool', s.tool, 'status', s.status, 'attempts', s.attempts,
    'error_code', s.error_code, 'duration_ms', s.duration_ms)) FROM steps s WHERE s.run_id = r0.run_id)`;
const backfill = [
  `INSERT INTO metric_runs (tenant, planner, fallback_reason, started, resumed, completed, failed, cancelled)
  SELECT tenant, planner, coalesce(fallback_reason, ''), count(*), 0, sum(status = 'completed'), sum(status = 'failed'), sum(status = 'cancelled')
  FROM runs WHERE true GROUP BY tenant, planner, coalesce(fallback_reason, '')`,
  ...endOfRun(
    `(SELECT r0.tenant AS tenant, r0.status AS status, r0.created_at AS created_at, r0.completed_at AS completed_at,
    coalesce(r0.steps, ${legacySteps}) AS steps, NULL AS prev, NULL AS lag FROM runs r0)`,
  ),
];

const header = `-- Metric rollups: running totals for GET /metrics, kept by triggers on runs (no extra statement per run).
-- Generated by scripts/metric-rollups-sql.ts from src/db/metric-rollups.ts; edit those, not this.`;
console.log(`${header}\n${[...tables, ...bounds, ...triggers, ...backfill].join(`;${BREAK}`)};`);
