// Rerun from a step (a fork): a new run of the same plan that takes over, from the run it forks,
// every step that does not depend on the chosen step (directly or through others) and that
// succeeded there. Those are recorded as succeeded when the new run is created and never run
// again; the chosen step and everything downstream of it run again, with the caller's changes.
// The original run is only read.
import type { RunOptions, ResolvedOptions } from "../../execution/run-options";
import { runEnded } from "../../execution/statuses";
import { canonicalJson } from "../../lib/hash";
import type { PlanInput } from "../../execution/plan-schema";
import type { ReusedStep } from "./domain/rerun-seed";
import { runClient } from "./run-client";
import type { RunResource } from "./run-view";
import { startRun, type StartRunResult } from "./start-run";

export interface RerunRequest {
  from_step: number;
  /** Fields that replace those of the step's planned input. */
  input?: Record<string, unknown>;
  /** A plan to run instead of the original's (steps with the same number, tool, input and dependencies are reused). */
  plan?: PlanInput;
}

export type RerunRefusal =
  | { ok: false; code: "run_not_found" }
  | { ok: false; code: "run_not_ended"; message: string }
  | { ok: false; code: "invalid_from_step"; message: string }
  | { ok: false; code: "nothing_to_rerun"; message: string };

export type RerunPlan = { ok: true; plan: PlanInput; reused: ReusedStep[] } | Extract<RerunRefusal, { code: "run_not_ended" | "invalid_from_step" }>;

type PlanStepInput = PlanInput["steps"][number];

/** The steps that depend on `from`, directly or through others, and `from` itself. */
function downstreamOf(steps: readonly PlanStepInput[], from: number): Set<number> {
  const down = new Set([from]);
  for (let grew = true; grew;) {
    grew = false;
    for (const s of steps)
      if (!down.has(s.step_number) && s.depends_on.some((d) => down.has(d))) {
        down.add(s.step_number);
        grew = true;
      }
  }
  return down;
}

const sameCall = (a: PlanStepInput, b: PlanStepInput) =>
  a.tool === b.tool &&
  canonicalJson(a.input) === canonicalJson(b.input) &&
  canonicalJson([...a.depends_on].sort((x, y) => x - y)) === canonicalJson([...b.depends_on].sort((x, y) => x - y)) &&
  canonicalJson(a.compensate ?? null) === canonicalJson(b.compensate ?? null);

/**
 * The new run's plan and the steps it reuses. A step is reused when it is not downstream of
 * `from_step`, the original ran the same call (tool, input, dependencies, compensation) and it
 * succeeded there, compensation did not touch it, and every step it depends on is reused too.
 */
export function planRerun(original: RunResource, req: RerunRequest): RerunPlan {
  if (!runEnded(original.status) || !original.plan)
    return { ok: false, code: "run_not_ended", message: `Only a run that has ended can be rerun; this one is ${original.status}.` };
  const steps: PlanStepInput[] = (req.plan?.steps ?? original.plan.steps).map((s) => ({ ...s, depends_on: s.depends_on ?? [] }));
  const target = steps.find((s) => s.step_number === req.from_step);
  if (!target) {
    const numbers = steps.map((s) => s.step_number).join(", ");
    return { ok: false, code: "invalid_from_step", message: `The plan has no step ${req.from_step}; its steps are ${numbers}.` };
  }
  if (req.input) target.input = { ...target.input, ...req.input };
  const down = downstreamOf(steps, req.from_step);
  const before = new Map(original.plan.steps.map((s) => [s.step_number, s]));
  const ran = new Map(original.execution_log.map((e) => [e.step_number, e]));
  const touched = new Set(original.compensation?.steps.filter((u) => u.status !== "pending").map((u) => u.step_number));
  const reusable = new Set(
    steps
      .filter((s) => {
        const was = before.get(s.step_number);
        return !down.has(s.step_number) && was && sameCall(s, was) && ran.get(s.step_number)?.status === "succeeded" && !touched.has(s.step_number);
      })
      .map((s) => s.step_number),
  );
  // A step whose input may come from a step that runs again runs again too.
  for (let shrank = true; shrank;) {
    shrank = false;
    for (const s of steps)
      if (reusable.has(s.step_number) && s.depends_on.some((d) => !reusable.has(d))) {
        reusable.delete(s.step_number);
        shrank = true;
      }
  }
  const reused = [...reusable].sort((a, b) => a - b).map((n) => ({ step: n, input: ran.get(n)!.input, output: ran.get(n)!.output }));
  return { ok: true, plan: { steps }, reused };
}

/** The options the original ran with, as a request states them. */
export function requestOptions(o: ResolvedOptions): RunOptions {
  return {
    retry: { max_attempts: o.max_attempts, initial_delay_ms: o.initial_delay_ms, max_delay_ms: o.max_delay_ms },
    step_timeout_ms: o.step_timeout_ms,
    max_parallelism: o.max_parallelism,
    run_timeout_ms: o.run_timeout_ms,
    ...(o.max_deferral_ms !== null ? { max_deferral_ms: o.max_deferral_ms } : {}),
    on_failure: o.on_failure,
    max_output_bytes: o.max_output_bytes,
  };
}

export interface StartRerun {
  tenant: string;
  run_id: string;
  /** Or how to choose it from the original (a bulk job's reruns): null when there is nothing to rerun. */
  request: RerunRequest | ((original: RunResource) => RerunRequest | null);
  idempotency_key?: string;
  trace_id?: string;
  /** The tenant's retention, when the caller read its settings (with its API key). */
  retention_days?: number;
}

/**
 * One read of the original (its run object, for its own tenant only), then startRun: the same
 * idempotency, cap and creation as POST /runs, with the reused steps written at creation.
 */
export async function startRerun(env: Env, r: StartRerun): Promise<StartRunResult | RerunRefusal> {
  const original = await runClient(env, r.run_id).getRun(r.tenant);
  if (!original) return { ok: false, code: "run_not_found" };
  const request = typeof r.request === "function" ? r.request(original) : r.request;
  if (!request) return { ok: false, code: "nothing_to_rerun", message: "Every step of the run succeeded: there is nothing to rerun." };
  const planned = planRerun(original, request);
  if (!planned.ok) return planned;
  return startRun(env, {
    tenant: r.tenant,
    // The request as received, and which run it forks: the same key on another run is another request.
    body: { rerun_of: r.run_id, ...request },
    source: { plan: planned.plan },
    options: requestOptions(original.options),
    ...(r.idempotency_key ? { idempotency_key: r.idempotency_key } : {}),
    ...(r.trace_id ? { trace_id: r.trace_id } : {}),
    ...(r.retention_days ? { retention_days: r.retention_days } : {}),
    rerun: { of: r.run_id, prompt: original.prompt, reused: planned.reused },
  });
}
