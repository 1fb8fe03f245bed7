// The SQL of the metric rollups, written once and used three ways: the rollup on the Cron Trigger
// adds a batch of `runs` rows to the rollup tables (src/scheduled/roll-up-metrics.ts), a scrape
// adds the rows not yet rolled up to what it reads (src/api/metrics.ts), and the one trigger left on
// `runs`, for a run that ends and is then resumed, counts an ending the rollup has not taken yet
// (migrations/*_metric_rollup_watermark.sql, printed by scripts/metric-rollups-sql.ts).
//
// Which rows the rollup has taken: every row with seq <= metric_watermark.seq, except the runs in
// metric_pending, whose start it took but whose current ending it has not (runs in flight when it
// passed, and runs resumed after it counted their ending; `prev` holds the step summaries an
// earlier ending counted). So the rows not yet taken, the tail, are the rows above the watermark
// (a minute of runs, the rollup's period) plus the pending ones (at most the runs in flight).

export const TERMINAL = "('completed','failed','cancelled')";

/** Seconds from a row's end to D1 taking its projection (NULL when either is unknown). */
const lag = (r: string) => `max(0, (julianday(${r}.projected_at) - julianday(${r}.completed_at)) * 86400.0)`;

const tailColumns = (r: string, p: string) =>
  `${r}.tenant AS tenant, ${r}.planner AS planner, coalesce(${r}.fallback_reason, '') AS fallback_reason, ${r}.status AS status,
    ${r}.created_at AS created_at, ${r}.completed_at AS completed_at, ${r}.steps AS steps, ${p}.prev AS prev, ${lag(r)} AS lag`;

/**
 * The rows not yet rolled up with seq <= `upper` (an SQL integer expression), as a row source:
 * `fresh` is 1 for a row whose start is not counted yet. Both halves walk a key: the seq range, and
 * metric_pending, each to its run's row by seq, the rowid (CROSS JOIN keeps SQLite from walking `runs` instead).
 */
export const tail = (upper: string) => `(SELECT ${tailColumns("r", "p")}, 1 AS fresh
  FROM runs r LEFT JOIN metric_pending p ON p.seq = r.seq
  WHERE r.seq > (SELECT seq FROM metric_watermark) AND r.seq <= ${upper}
  UNION ALL SELECT ${tailColumns("r", "p")}, 0 AS fresh
  FROM metric_pending p CROSS JOIN runs r ON r.seq = p.seq
  WHERE r.seq <= (SELECT seq FROM metric_watermark))`;

/** The rollup's columns and keys, per table. */
export const ROLLUPS = {
  metric_runs: { keys: ["tenant", "planner", "fallback_reason"], values: ["started", "resumed", "completed", "failed", "cancelled"] },
  metric_steps: { keys: ["tenant", "tool"], values: ["succeeded", "failed", "skipped", "cancelled", "retries"] },
  metric_step_failures: { keys: ["tenant", "tool", "code"], values: ["n"] },
  metric_histograms: { keys: ["family", "tenant", "tool", "le"], values: ["count", "sum"] },
  metric_llm: { keys: ["tenant", "model"], values: ["calls", "input_tokens", "output_tokens", "cost_nano"] },
} as const;
export type RollupTable = keyof typeof ROLLUPS;

const j = (field: string) => `json_extract(j.value, '$.${field}')`;

/**
 * The steps an ending counts: every step of the run's step summaries, except those that had
 * already succeeded in the summaries of its previous ending (`prev`, set for a resumed run), which
 * that ending counted, and those a rerun took over from the run it forks (`reused`), which ran and
 * were counted there. A step skipped because the run was cancelled counts as cancelled (summaries
 * written before skip_reason existed: any skipped step of a cancelled run).
 */
const stepsOf = (src: string) => `SELECT r.tenant AS tenant, ${j("tool")} AS tool,
    CASE WHEN ${j("status")} = 'skipped' AND coalesce(${j("skip_reason")} = 'cancelled', r.status = 'cancelled') THEN 'cancelled' ELSE ${j("status")} END AS outcome,
    ${j("attempts")} AS attempts, ${j("error_code")} AS error_code, ${j("duration_ms")} AS duration_ms, ${j("queue_ms")} AS queue_ms
  FROM ${src} AS r, json_each(r.steps) AS j
  WHERE r.status IN ${TERMINAL} AND coalesce(${j("reused")}, 0) = 0 AND NOT EXISTS (
    SELECT 1 FROM json_each(r.prev) AS p
    WHERE json_extract(p.value, '$.step_number') = ${j("step_number")} AND json_extract(p.value, '$.status') = 'succeeded')`;

const LLM_VALUES = ROLLUPS.metric_llm.values;

/**
 * What an ending's agent steps used, by model: each step's usage (`llm` in its summary), less the
 * usage the run's previous ending counted (`prev`, for a resumed run). A resume keeps an agent
 * step's recorded turns and their usage, so the difference is what its model calls used since.
 * Steps a rerun took over used their tokens in the run it forks, and counted there.
 */
const llmOf = (src: string) =>
  [
    ["r.steps", "1"],
    ["r.prev", "-1"],
  ]
    .map(
      ([summaries, sign]) => `SELECT r.tenant AS tenant, json_extract(j.value, '$.llm.model') AS model,
    ${LLM_VALUES.map((v) => `${sign} * json_extract(j.value, '$.llm.${v}') AS ${v}`).join(", ")}
  FROM ${src} AS r, json_each(${summaries}) AS j
  WHERE r.status IN ${TERMINAL} AND coalesce(${j("reused")}, 0) = 0 AND ${j("llm")} IS NOT NULL`,
    )
    .join("\n  UNION ALL ");

/** The stored bucket of a value `v` (seconds) in a family: its smallest bound at or above it. */
const bucket = (family: string, v: string) =>
  `coalesce((SELECT b.le_text FROM metric_bounds b WHERE b.family = '${family}' AND b.le >= ${v} ORDER BY b.le LIMIT 1), '+Inf')`;

const histogram = (family: string, rows: string) =>
  `SELECT '${family}' AS family, tenant, tool, le, count(*) AS count, sum(v) AS sum FROM (SELECT tenant, tool, v, ${bucket(family, "v")} AS le FROM (${rows}))
  GROUP BY tenant, tool, le`;

/**
 * What a row source adds to each rollup table, as one SELECT per table with its columns in
 * ROLLUPS order. The row source has the columns of `tail` (fresh: its start is not counted yet).
 * Rows that add nothing (a run still in flight whose start is counted) give no row, so rolling them
 * up again writes nothing.
 */
export const contributions = (src: string): Record<RollupTable, string> => ({
  metric_runs: `SELECT tenant, planner, fallback_reason, sum(fresh) AS started, 0 AS resumed, sum(status = 'completed') AS completed,
    sum(status = 'failed') AS failed, sum(status = 'cancelled') AS cancelled
  FROM ${src} WHERE fresh = 1 OR status IN ${TERMINAL} GROUP BY tenant, planner, fallback_reason`,
  metric_steps: `SELECT tenant, tool, sum(outcome = 'succeeded') AS succeeded, sum(outcome = 'failed') AS failed, sum(outcome = 'skipped') AS skipped,
    sum(outcome = 'cancelled') AS cancelled, sum(max(coalesce(attempts, 0) - 1, 0)) AS retries
  FROM (${stepsOf(src)}) GROUP BY tenant, tool`,
  metric_step_failures: `SELECT tenant, tool, coalesce(error_code, 'unknown') AS code, count(*) AS n
  FROM (${stepsOf(src)}) WHERE outcome = 'failed' GROUP BY tenant, tool, coalesce(error_code, 'unknown')`,
  metric_histograms: [
    histogram("step_duration", `SELECT tenant, tool, duration_ms / 1000.0 AS v FROM (${stepsOf(src)}) WHERE duration_ms IS NOT NULL`),
    histogram("queue_lag", `SELECT tenant, tool, queue_ms / 1000.0 AS v FROM (${stepsOf(src)}) WHERE queue_ms IS NOT NULL`),
    histogram(
      "run_duration",
      `SELECT tenant, '' AS tool, max(0, (julianday(completed_at) - julianday(created_at)) * 86400.0) AS v
    FROM ${src} WHERE status IN ${TERMINAL} AND completed_at IS NOT NULL`,
    ),
    histogram("projection_lag", `SELECT tenant, '' AS tool, lag AS v FROM ${src} WHERE status IN ${TERMINAL} AND lag IS NOT NULL`),
  ].join("\n  UNION ALL "),
  metric_llm: `SELECT tenant, model, ${LLM_VALUES.map((v) => `sum(${v}) AS ${v}`).join(", ")} FROM (${llmOf(src)}) GROUP BY tenant, model`,
});

/** Adds a SELECT's rows (columns in ROLLUPS order) to a rollup table. */
export const addTo = (table: RollupTable, select: string) => {
  const { keys, values } = ROLLUPS[table];
  return `INSERT INTO ${table} (${[...keys, ...values].join(", ")})
  SELECT * FROM (${select}) WHERE true
  ON CONFLICT (${keys.join(", ")}) DO UPDATE SET ${values.map((v) => `${v} = ${v} + excluded.${v}`).join(", ")}`;
};

/** A rollup table as a scrape sees it: what the rollup holds plus what the tail adds. */
export const withTail = (table: RollupTable, tailSelect: string) => {
  const { keys, values } = ROLLUPS[table];
  const cols = [...keys, ...values].join(", ");
  return `SELECT ${keys.join(", ")}, ${values.map((v) => `sum(${v}) AS ${v}`).join(", ")}
  FROM (SELECT ${cols} FROM ${table} UNION ALL SELECT * FROM (${tailSelect})) GROUP BY ${keys.join(", ")}`;
};

/** The largest seq there is: the scrape's upper bound takes every row. */
export const ALL_ROWS = "9223372036854775807";
