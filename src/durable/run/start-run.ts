// Starting a run, for every entry point that starts one (POST /runs, and anything else that makes
// runs on a tenant's behalf): the run id from the Idempotency-Key, the replay check before any
// planning, the plan, then one create on the new run's object. It answers outcomes, not HTTP:
// each caller says them in its own terms.
import type { RunOptions } from "../../execution/run-options";
import { canonicalJson, sha256Hex } from "../../lib/hash";
import { otlpExporter } from "../../lib/otel/exporter";
import { SpanKind } from "../../lib/otel/span";
import { newSpanId, newTraceId } from "../../lib/trace";
import { runLlmFor } from "../../llm/run-llm";
import { makePlan, type PlanOutcome, type PlanSource, type PlanTrace } from "../../planner/make-plan";
import { defaultRetentionDays } from "./effects/retention";
import { runWebhookRefusal, type RunWebhookRefusal } from "../webhooks/run-webhook";
import { runClient } from "./run-client";
import type { ParentLink, RunSchedule } from "./domain/events";
import type { RunResource } from "./run-view";
import type { RerunSeed } from "./domain/rerun-seed";

const DEFAULT_CAP = 100;

/** The per-tenant cap on runs in flight (MAX_RUNS_IN_FLIGHT); the run object enforces it through the tenant's limiter. */
export function runCap(env: Env): number {
  const n = Number(env.MAX_RUNS_IN_FLIGHT);
  return Number.isInteger(n) && n > 0 ? n : DEFAULT_CAP;
}

const newId = () => crypto.randomUUID().replaceAll("-", "");

/**
 * With an Idempotency-Key the run id is derived from it (and the tenant, so two tenants' keys
 * never meet), and the run object itself (strongly consistent, kept for good) tells a replay from
 * a conflicting reuse of the key.
 */
export async function runIdFor(tenant: string, idempotencyKey?: string): Promise<string> {
  return idempotencyKey ? `run_${(await sha256Hex(`idempotency:${tenant}:${idempotencyKey}`)).slice(0, 32)}` : `run_${newId()}`;
}

export interface StartRunRequest {
  tenant: string;
  /** The request as the caller received it: its hash tells a replay from a conflicting reuse of the key. */
  body: unknown;
  source: PlanSource;
  options: RunOptions;
  idempotency_key?: string;
  /** The caller's trace, if it gave one; otherwise one is started. */
  trace_id?: string;
  /** The caller's span in that trace (a `traceparent`'s parent id): the parent of the start's span. */
  parent_span_id?: string;
  /** Answer once the run has ended, or after this long. */
  wait_ms?: number;
  /** The schedule occurrence starting the run (the schedule object's runs carry it). */
  schedule?: RunSchedule;
  /** The run's own webhook, called when it ends; needs the tenant's run-webhook signing secret. */
  webhook?: { url: string };
  /** The tenant's retention in days, when its settings were read anyway (with its API key); else RUN_RETENTION_DAYS. */
  retention_days?: number;
  /** A rerun (rerun.ts): the run it forks, the steps it takes over, and the original's prompt. */
  rerun?: RerunSeed & { prompt: string | null };
  /** A child run (Run.start): the run and step that start it, and its depth. */
  parent?: ParentLink;
}

type PlanRefusal = Extract<PlanOutcome, { ok: false }>;

export type StartRunResult =
  | { ok: true; outcome: "created" | "existing"; run: RunResource }
  | { ok: false; code: "idempotency_conflict"; run_id: string }
  | { ok: false; code: "too_many_runs_in_flight"; in_flight: number; cap: number }
  | { ok: false; code: PlanRefusal["code"]; message: string; details?: PlanRefusal["details"] }
  | { ok: false; code: "model_not_configured"; message: string; details?: undefined }
  | ({ ok: false; details?: undefined } & RunWebhookRefusal);

/**
 * One request to the new run's object, which takes the tenant's slot only if the run will stay
 * in flight and answers as soon as the run is durable. With an Idempotency-Key the object is asked
 * first whether this is a replay, so a replay is never planned again.
 */
export async function startRun(env: Env, req: StartRunRequest): Promise<StartRunResult> {
  const spans = otlpExporter(env);
  if (!spans) return start(env, req);
  // The start is a span of its own (the parent of the planner's call and of the run's span), so
  // a run's trace has one root even when the caller sent no traceparent.
  const trace_id = req.trace_id ?? newTraceId();
  const span_id = newSpanId();
  const started = Date.now();
  const result = await start(env, { ...req, trace_id }, { trace_id, span_id, tenant: req.tenant, spans });
  spans.record({
    trace_id,
    span_id,
    ...(req.parent_span_id ? { parent_span_id: req.parent_span_id } : {}),
    name: "start run",
    kind: SpanKind.server,
    start_ms: started,
    end_ms: Date.now(),
    tenant: req.tenant,
    attributes: { "crane.run_id": result.ok ? result.run.run_id : undefined, "crane.outcome": result.ok ? result.outcome : result.code },
    ...(result.ok ? {} : { error: result.code }),
  });
  spans.flush();
  return result;
}

async function start(env: Env, req: StartRunRequest, trace?: PlanTrace): Promise<StartRunResult> {
  const refusal = req.webhook && (await runWebhookRefusal(env, req.tenant, req.webhook.url));
  if (refusal) return { ok: false, ...refusal };
  const runId = await runIdFor(req.tenant, req.idempotency_key);
  const stub = runClient(env, runId);
  const input = {
    run_id: runId,
    tenant: req.tenant,
    prompt: "prompt" in req.source ? req.source.prompt : (req.rerun?.prompt ?? null),
    options: req.options,
    request_hash: await sha256Hex(canonicalJson(req.body)),
    trace_id: req.trace_id ?? newTraceId(),
    ...(trace ? { parent_span_id: trace.span_id } : {}),
    cap: runCap(env),
    retention_days: req.retention_days ?? defaultRetentionDays(env),
    ...(req.wait_ms ? { wait_ms: req.wait_ms } : {}),
    ...(req.schedule ? { schedule: req.schedule } : {}),
    ...(req.webhook ? { webhook: { url: req.webhook.url } } : {}),
    ...(req.parent ? { parent: req.parent } : {}),
  };
  let result = req.idempotency_key ? await stub.create(input) : undefined;
  if (!result || result.outcome === "needs_plan") {
    const planned = await makePlan(req.source, env, req.tenant, trace);
    if (!planned.ok) return planned;
    const llm = runLlmFor(env, planned.plan);
    if (!llm.ok) return llm;
    result = await stub.create({
      ...input,
      plan: planned.plan,
      ...(llm.llm ? { llm: llm.llm } : {}),
      ...(req.rerun ? { rerun: { of: req.rerun.of, reused: req.rerun.reused } } : {}),
    });
  }
  switch (result.outcome) {
    case "conflict":
      return { ok: false, code: "idempotency_conflict", run_id: result.run_id };
    case "at_capacity":
      return { ok: false, code: "too_many_runs_in_flight", in_flight: result.in_flight, cap: result.cap };
    case "needs_plan":
      throw new Error("the run object asked for a plan it was given");
    default:
      return { ok: true, outcome: result.outcome, run: result.run };
  }
}
