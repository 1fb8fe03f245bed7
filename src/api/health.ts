import { createRoute } from "@hono/zod-openapi";
import journal from "../../migrations/meta/_journal.json";
import pkg from "../../package.json";
import { shardConfig, ShardConfigError } from "../db/shards";
import { allReadModelQueues, endRowsQueued } from "../durable/run/effects/read-model-queue";
import { allStepQueues } from "../durable/run/effects/step-queues";
import { allWebhookQueues } from "../durable/webhooks/webhook-queues";
import { errorFields, log } from "../lib/log";
import { llmConfig } from "../planner/llm/llm-config";
import { llmHealth } from "../planner/llm/llm-errors";
import { ACCESS, createApi, jsonResponse } from "./openapi";
import { healthSchema, type Health } from "./response-schemas";

/**
 * GET /health: each dependency checked for real; 503 when one fails. Public, so it is cached: an
 * isolate answers from its last check for HEALTH_CACHE_MS (and requests that arrive while a check
 * runs share it), so a flood of unauthenticated requests costs one D1 read, one Durable Object
 * request and one queue request per isolate every few seconds, not one each.
 *
 * What is checked: D1 (a read per read-model shard, which also says whether its schema is current), the run objects (a request to one that never writes), the step
 * queue (its metrics: the queue service answers, with its backlog and the age of its oldest
 * message). What cannot be checked from here is named in `not_checked`.
 */
export const healthApi = createApi();

export const HEALTH_CACHE_MS = 5000;

/** What a producer cannot see, said rather than reported as "ok". */
const NOT_CHECKED = {
  queue_consumer:
    "Whether a consumer is taking messages is not visible to a producer; a backlog whose oldest message keeps ageing (queue_oldest_message_age_ms) is the sign of a stalled one.",
  llm_provider: "The model provider is not called (it costs money); llm says only whether it is configured.",
} as const;

async function check(name: string, probe: () => Promise<unknown>): Promise<[string, string]> {
  try {
    await probe();
    return [name, "ok"];
  } catch (err) {
    log.error("health.check_failed", { check: name, ...errorFields(err) });
    return [name, "failing"];
  }
}

/** The newest migration every shard must have (wrangler and the test setup record file names). */
export const NEWEST_MIGRATION = `${journal.entries.at(-1)!.tag}.sql`;

/**
 * The read model: "d1" is ok when READ_MODEL_SHARDS matches the bindings and every shard answers
 * with the newest migration applied; each shard is also reported on its own (d1_shard_<i>: ok,
 * failing, or behind when its schema lacks the newest migration: a shard added without its
 * migrations, which `npm run dev` and `wrangler d1 migrations apply` give it).
 */
async function readModelChecks(env: Env): Promise<[string, string][]> {
  const config = shardConfig(env);
  if (config instanceof ShardConfigError) {
    log.error("health.check_failed", { check: "d1", ...errorFields(config) });
    return [["d1", `misconfigured: ${config.message}`]];
  }
  const shards = await Promise.all(
    config.map(async (db, i): Promise<[string, string]> => {
      const name = `d1_shard_${i}`;
      try {
        // One statement: the shard answers, has the runs table, and has the newest migration.
        const row = await db
          .prepare("SELECT (SELECT count(*) FROM runs WHERE false) AS runs, (SELECT count(*) FROM d1_migrations WHERE name = ?) AS current")
          .bind(NEWEST_MIGRATION)
          .first<{ current: number }>();
        if (row?.current === 1) return [name, "ok"];
        log.error("health.shard_behind", { check: name, shard: i, newest_migration: NEWEST_MIGRATION });
        return [name, "behind"];
      } catch (err) {
        log.error("health.check_failed", { check: name, ...errorFields(err) });
        return [name, "failing"];
      }
    }),
  );
  return [["d1", shards.every(([, v]) => v === "ok") ? "ok" : "failing"], ...shards];
}

function combined(each: QueueMetrics[]): QueueMetrics {
  // The local broker answers epoch ms, 0 when a queue is empty; a Date deployed.
  const oldest = each.map((m) => (m.oldestMessageTimestamp === undefined ? 0 : new Date(m.oldestMessageTimestamp).getTime())).filter((t) => t > 0);
  return {
    backlogCount: each.reduce((n, m) => n + m.backlogCount, 0),
    backlogBytes: each.reduce((n, m) => n + m.backlogBytes, 0),
    ...(oldest.length ? { oldestMessageTimestamp: new Date(Math.min(...oldest)) } : {}),
  };
}

async function checkAll(env: Env): Promise<{ body: Health; ok: boolean }> {
  let backlog: QueueMetrics | undefined;
  const checks = Object.fromEntries(
    await Promise.all([
      ...(await readModelChecks(env)),
      // A run id that can never be a real one: the object answers null without writing anything.
      check("durable_objects", () => env.RUNS.getByName("health-probe").status()),
      // Every step queue: the backlog is theirs together, its oldest message the oldest of any. The
      // webhook and read-model queues' configuration is checked too: a mismatch would fail every
      // milestone's send, or every row a run sends the read model through its queue.
      check("queue", async () => {
        allWebhookQueues(env);
        allReadModelQueues(env);
        endRowsQueued(env);
        backlog = combined(await Promise.all(allStepQueues(env).map((q) => q.metrics())));
      }),
    ]),
  );
  const ok = Object.values(checks).every((v) => v === "ok");
  const oldest = backlog?.oldestMessageTimestamp;
  const body: Health = {
    status: ok ? "ok" : "degraded",
    version: pkg.version,
    checks,
    ...(backlog
      ? {
          queue: {
            backlog_count: backlog.backlogCount,
            backlog_bytes: backlog.backlogBytes,
            oldest_message_age_ms: oldest ? Math.max(0, Date.now() - new Date(oldest).getTime()) : null,
          },
        }
      : {}),
    not_checked: NOT_CHECKED,
    checked_at: new Date().toISOString(),
  };
  return { body, ok };
}

let cached: { answer: Promise<{ body: Health; ok: boolean }>; until: number } | undefined;

/** Forgets this isolate's cached answer (tests that change a dependency between two checks). */
export function forgetHealth(): void {
  cached = undefined;
}

const getHealth = createRoute({
  method: "get",
  operationId: "getHealth",
  path: "/health",
  tags: ["Health"],
  summary: "Dependency checks",
  description: `Checked at most every ${HEALTH_CACHE_MS / 1000} s per isolate (checked_at says when); not_checked names what cannot be checked from here.`,
  security: ACCESS.public.security,
  responses: {
    200: jsonResponse(healthSchema, "Every dependency answers"),
    503: jsonResponse(healthSchema, "A dependency is failing (see checks)"),
    ...ACCESS.public.responses,
  },
});

healthApi.openapi(getHealth, async (c) => {
  const now = Date.now();
  if (!cached || cached.until <= now) {
    const answer = checkAll(c.env);
    cached = { answer, until: now + HEALTH_CACHE_MS };
    // A check that throws outright is not remembered.
    answer.catch(() => (cached = undefined));
  }
  const { body, ok } = await cached.answer;
  // The LLM planner is reported but never fails health: without it, the rule planner plans. Read
  // fresh on every answer (memory only, no I/O), so a call that succeeds shows at once.
  const llm = llmHealth(llmConfig(c.env) !== null);
  c.header("Cache-Control", `public, max-age=${HEALTH_CACHE_MS / 1000}`);
  return c.json({ ...body, checks: { ...body.checks, llm } }, ok ? 200 : 503);
});
