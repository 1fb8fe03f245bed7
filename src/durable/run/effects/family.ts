// The I/O between a run and its family, for the run object: creating a Run.start step's child
// through startRun (so it is planned, capped and made exactly as POST /runs makes a run), telling a
// parent that this run ended, and cancelling children. Each is one request to another run object
// (creating: two, the replay check and the create), and each is repeatable: the child's id derives
// from its key, a parent records a child's end once, and cancelling an ended run changes nothing.
import { Backoff, BACKGROUND_RETRY } from "../../../execution/backoff";
import { stepError } from "../../../execution/step-error";
import { errorFields, log } from "../../../lib/log";
import { agentInputSchema, type AgentInput } from "../../../tools/agent-run/agent-input";
import { AGENT_TOOL } from "../../../tools/agent-run/tool-patterns";
import { runStartInputSchema } from "../../../tools/run-start";
import { modelOf } from "../domain/agent/model-input";
import { agentsSpend, nestedBudget } from "../domain/agent/nested-budget";
import {
  DEFAULT_MAX_RUN_DEPTH,
  childCreated,
  childKey,
  childrenToCancel,
  childWorkOf,
  type ChildNotice,
  type ChildStart,
  type ChildWork,
} from "../domain/children";
import type { PlanSource } from "../../../planner/make-plan";
import type { Machine } from "../domain/machine";
import { runClient } from "../run-client";
import { TERMINAL_RUN, type RunState } from "../domain/state";
import { runIdFor, startRun } from "../start-run";

/** How deep runs may nest (MAX_RUN_DEPTH): a top-level run is depth 0, its children 1. */
export function maxRunDepth(env: Env): number {
  const n = Number(env.MAX_RUN_DEPTH);
  return Number.isInteger(n) && n >= 0 ? n : DEFAULT_MAX_RUN_DEPTH;
}

/** The id the child of `step` (or of its agent's `call`) has or will have: derived from its key, as an Idempotency-Key's run is. */
export async function childRunId(state: RunState, step: number, call?: number): Promise<string | null> {
  const s = state.steps.get(step);
  return s ? runIdFor(state.tenant, childKey(state, s, call)) : null;
}

/**
 * What the child runs: a Run.start step's prompt or plan and options; for an agent's call to
 * Agent.run, a plan of that one step, with the calling agent's model unless the call names one.
 */
function childSource(state: RunState, w: ChildWork): { source: PlanSource; options: Record<string, unknown> } {
  if (w.kind === "call") {
    const parentInput = agentInputSchema.parse(w.step.resolved_input);
    const input = { ...(w.s.resolved_input as Record<string, unknown>) };
    if (input.model === undefined && modelOf(state, parentInput)) input.model = modelOf(state, parentInput);
    const budget = nestedBudget(w.step, input.budget as AgentInput["budget"]);
    if (budget) input.budget = budget;
    return { source: { plan: { steps: [{ step_number: 1, tool: AGENT_TOOL, input, depends_on: [] }] } }, options: {} };
  }
  // Checked when the step started; parsed again for the defaults.
  const input = runStartInputSchema.parse(w.s.resolved_input);
  return { source: input.plan ? { plan: input.plan } : { prompt: input.prompt! }, options: input.options ?? {} };
}

/** Creates the child of a Run.start step's dispatch (or an agent's Agent.run call), or finds the one an earlier try created. */
export async function createChild(env: Env, state: RunState, w: ChildWork): Promise<ChildStart> {
  const step = w.kind === "call" ? w.step : w.s;
  const call = w.kind === "call" ? w.s.call : undefined;
  const depth = (state.parent?.depth ?? 0) + 1;
  const limit = maxRunDepth(env);
  if (depth > limit) {
    const what = call === undefined ? "Run.start" : "This nested agent";
    const message = `${what} would start a run ${depth} levels deep; runs nest at most ${limit} deep (MAX_RUN_DEPTH).`;
    return { ok: false, reason: "not_started", error: stepError("run_depth_exceeded", message) };
  }
  const { source, options } = childSource(state, w);
  try {
    const result = await startRun(env, {
      tenant: state.tenant,
      body: w.s.resolved_input,
      source,
      options,
      idempotency_key: childKey(state, step, call),
      trace_id: state.trace_id,
      // A child is kept as long as its parent: it was started under the parent's retention.
      ...(state.retention_days ? { retention_days: state.retention_days } : {}),
      parent: { run_id: state.run_id, step: step.step_number, ...(call === undefined ? {} : { call }), depth },
    });
    if (result.ok) {
      const { run_id, status, result: output, error } = result.run;
      return { ok: true, child: { run_id, status, result: output, error: error ? { code: error.code, message: error.message } : null } };
    }
    if (result.code === "too_many_runs_in_flight") {
      const message = `The tenant has ${result.in_flight} runs in flight, its limit; the child starts when one ends.`;
      return { ok: false, reason: "at_capacity", error: stepError("child_at_capacity", message) };
    }
    const message =
      result.code === "idempotency_conflict"
        ? `Run ${result.run_id} was started for this step with a different input.`
        : `The child run could not be planned (${result.code}): ${result.message}`;
    return { ok: false, reason: "not_started", error: stepError("child_not_started", message) };
  } catch (err) {
    log.warn("child.start_failed", { run_id: state.run_id, step: step.step_number, call, ...errorFields(err) });
    return { ok: false, reason: "unreachable", error: stepError("child_start_failed", "The child run's object could not be reached; trying again.") };
  }
}

/** Tells the parent that this run ended; true once the parent has it (or says it is no child of its). */
export async function notifyParent(env: Env, state: RunState): Promise<boolean> {
  const parent = state.parent!;
  await runClient(env, parent.run_id).childEnded({
    tenant: state.tenant,
    step: parent.step,
    ...(parent.call === undefined ? {} : { call: parent.call }),
    run_id: state.run_id,
    status: state.status,
    result: state.status === "completed" ? state.result : null,
    error: state.error ? { code: state.error.code, message: state.error.message } : null,
    ...(parent.call === undefined ? {} : { llm_usage: agentsSpend(state) }),
  });
  return true;
}

/** Cancels a child (and, through its own end, its children). An ended child answers run_finished: nothing to do. */
export async function cancelChild(env: Env, state: RunState, runId: string): Promise<void> {
  await runClient(env, runId).cancel(state.tenant, { reason: `Its parent run ${state.run_id} ended ${state.status}.` });
}

export type { ChildNotice };

/**
 * What an ended run still owes its family (its parent told, its children cancelled), and when the
 * alarm tries again after a failed call. In memory: after an eviction the debt is read from the
 * state again (an unacknowledged end, children not known to have ended) and paid on wake.
 */
class FamilyDebts {
  private readonly backoff = new Backoff(BACKGROUND_RETRY);
  /** Children this object has asked to cancel; their own end notices mark them ended. */
  readonly cancelSent = new Set<string>();
  busy = false;

  owed(state: RunState): { parent: boolean; children: string[] } {
    const parent = state.parent !== null && !state.parent_notified && TERMINAL_RUN.has(state.status);
    return { parent, children: childrenToCancel(state).filter((id) => !this.cancelSent.has(id)) };
  }

  /** When the alarm must wake for them (null: nothing owed). */
  due(state: RunState, now: number): number | null {
    const owed = this.owed(state);
    return owed.parent || owed.children.length ? Math.max(this.backoff.retryAt, now) : null;
  }

  succeeded(): void {
    this.backoff.succeeded();
  }

  failed(now: number): number {
    return this.backoff.failed(now);
  }
}

/** What the family effect needs of the run object that hosts it. */
export interface FamilyHost {
  env: Env;
  state(): RunState;
  clock(): number;
  /** Counts a request this object makes to another run object. */
  counted(): void;
  /** Runs one decision as a command of the object's own (no request of its own). */
  record(decide: (m: Machine) => void, name: string): Promise<void>;
  armAlarm(): void;
}

/**
 * The I/O of a run's family as an effect of its commands: creating the children its Run.start
 * dispatches asked for, and paying what an ended run owes its family. Each outcome is recorded as
 * a command of its own; a crash in between leaves a lease or a debt the alarm acts on.
 */
export class Family {
  private readonly debts = new FamilyDebts();

  constructor(private readonly host: FamilyHost) {}

  /** When the alarm must wake to pay a debt (null: nothing owed, or a payment is under way). */
  nextDue(now: number): number | null {
    const state = this.host.state();
    return TERMINAL_RUN.has(state.status) && !this.debts.busy ? this.debts.due(state, now) : null;
  }

  /** Creates the children of Run.start dispatches (and of agents' Agent.run calls), one after another, recording each outcome. */
  async startChildren(births: { step: number; dispatch: number; call?: number }[]): Promise<void> {
    for (const { step, dispatch, call } of births) {
      const w = childWorkOf(this.host.state(), step, dispatch);
      if (!w || w.s.status !== "running") continue;
      const start = await createChild(this.host.env, this.host.state(), w);
      // The replay check startRun makes first: the child's object answers it without a command, so
      // it counts it nowhere. The create itself is the child's command, counted by the child.
      this.host.counted();
      await this.host.record((m) => childCreated(m, step, dispatch, start, call), "childCreated");
    }
  }

  /** Pays what an ended run owes its family: its end told to its parent, its children cancelled. The alarm retries on failure. */
  async settle(): Promise<void> {
    if (this.debts.busy) return;
    this.debts.busy = true;
    const state = this.host.state();
    try {
      const owed = this.debts.owed(state);
      for (const id of owed.children) {
        // Counted by the child, whose command the cancel is.
        await cancelChild(this.host.env, state, id);
        this.debts.cancelSent.add(id);
      }
      if (owed.parent) {
        // Counted by the parent, whose command the notice is.
        await notifyParent(this.host.env, state);
        await this.host.record((m) => void m.emit("parent.notified", { status: m.state.status }), "parentNotified");
      }
      this.debts.succeeded();
    } catch (err) {
      const delay = this.debts.failed(this.host.clock());
      log.warn("family.notify_failed", { run_id: state.run_id, retry_in_ms: delay, ...errorFields(err) });
    } finally {
      this.debts.busy = false;
      this.host.armAlarm();
    }
  }

  /** Whether the ended run owes anything now. */
  owesNow(now: number): boolean {
    return this.nextDue(now) !== null;
  }
}
