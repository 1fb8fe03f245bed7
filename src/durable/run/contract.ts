// The run object's RPC contract: every method's input and answer. RunObject implements it, and
// run-client.ts (the one typed client) imports only this, so callers never import the object.
import type { Plan } from "../../execution/plan-schema";
import type { RunOptions } from "../../execution/run-options";
import type { StepError } from "../../execution/step-error";
import type { PreflightResult, ReportAnswer, ReportResult, StepReport } from "../../execution/step-protocol";
import type { ChildNotice } from "./domain/children";
import type { ControlResult } from "./domain/control";
import type { ParentLink, RunEvent, RunSchedule } from "./domain/events";
import type { Decision, DecisionResult, SignalResult } from "./domain/human-input";
import type { RerunSeed } from "./domain/rerun-seed";
import type { ExecutionLogEntry, RunResource } from "./domain/run-resource";
import type { IssueLinkResult, LinkLookup } from "./storage/decision-links";
import type { RunUsage } from "./storage/usage-meter";
import type { WatchToken } from "./storage/watch-tokens";

export type { ChildNotice, Decision, RunResource, SignalResult };
import type { RunLlm } from "./domain/events";

/** GET /runs/{id}/usage: what the run cost in requests and rows, and what its agents' model calls used. */
export type RunUsageAnswer = RunUsage & { llm: { calls: number; input_tokens: number; output_tokens: number; cost_usd: number } };

export interface CreateRunInput {
  run_id: string;
  tenant: string;
  prompt: string | null;
  /** Absent: only tell whether this is a replay (the caller plans when it is not). */
  plan?: Plan;
  options: RunOptions;
  request_hash: string;
  trace_id: string;
  /** The span of the request that created the run: the parent of the run's own span. */
  parent_span_id?: string;
  /** Days the run is kept once it ended (its tenant's retention, read with its API key). */
  retention_days?: number;
  /** Answer once the run has ended, or after this long (POST /runs?wait=). */
  wait_ms?: number;
  /** The tenant's cap on runs in flight (MAX_RUNS_IN_FLIGHT, read by the API from the same config). */
  cap: number;
  /** The schedule occurrence starting this run, if a schedule does. */
  schedule?: RunSchedule;
  /** The run's own webhook, called when it ends (POST /runs `webhook`). */
  webhook?: { url: string };
  /** A run with Agent.run steps: its default model and prices, as configured at creation. */
  llm?: RunLlm;
  /** A rerun: the run it is forked from and the steps it takes over from it (see rerun.ts). */
  rerun?: RerunSeed;
  /** A child run (Run.start): where it comes from. */
  parent?: ParentLink;
}

export type CreateRunResult =
  | { outcome: "created" | "existing"; run: RunResource }
  | { outcome: "conflict"; run_id: string }
  | { outcome: "needs_plan" }
  | { outcome: "at_capacity"; in_flight: number; cap: number };

type NotFound = { ok: false; code: "run_not_found" };

export type ControlAnswer = (ControlResult & { run: RunResource }) | NotFound | { ok: false; code: "at_capacity"; in_flight: number; cap: number };
export type DecisionAnswer = { ok: true; step: ExecutionLogEntry } | Exclude<DecisionResult, { ok: true }> | NotFound;
export type LinkDecisionAnswer = { ok: true; step: ExecutionLogEntry } | Exclude<LinkLookup, { ok: true }> | Exclude<DecisionResult, { ok: true }>;

/** What API routes, other objects and consumers may ask a run object. */
export interface RunRpc {
  create(input: CreateRunInput): Promise<CreateRunResult>;
  getRun(tenant: string): Promise<RunResource | null>;
  status(): Promise<RunResource["status"] | null>;
  listEvents(tenant: string, after: number, limit: number): Promise<{ events: RunEvent[]; last_seq: number } | null>;
  issueWatchToken(tenant: string): Promise<WatchToken | "not_found" | "too_many">;
  getUsage(tenant: string): Promise<RunUsageAnswer | null>;
  cancel(tenant: string, options?: { compensate?: boolean; reason?: string }): Promise<ControlAnswer>;
  resume(tenant: string, cap: number): Promise<ControlAnswer>;
  pause(tenant: string, reason?: string): Promise<ControlAnswer>;
  decide(tenant: string, step: number, decision: Decision): Promise<DecisionAnswer>;
  signal(tenant: string, name: string, payload: unknown): Promise<SignalResult | NotFound>;
  issueDecisionLinks(tenant: string, step: number): Promise<IssueLinkResult | NotFound>;
  lookupDecisionLink(token: string): Promise<LinkLookup>;
  decideByLink(token: string, comment: string | null): Promise<LinkDecisionAnswer>;
  /** A child run tells its parent that it ended (the parent records it once). */
  childEnded(notice: ChildNotice): Promise<{ acknowledged: boolean }>;
  /** The webhook consumer: the tenant's outbox recorded these milestones (by seq), so they are not sent again. */
  webhooksRecorded(tenant: string, seqs: number[]): Promise<void>;
  /**
   * Consumers report dispatches, several at once when they finished together; the answer hands the
   * consumer up to `take` of the messages the reports called for (a continuation), marked granted.
   */
  report(reports: StepReport[], take?: number): Promise<ReportAnswer>;
  /** Asked before a tool with side effects runs. */
  preflight(step: number, dispatch: number): Promise<PreflightResult>;
  /** Asked by a message that reached its consumer with less than its timeout left of its lease: the pre-flight, and a lease from now. */
  renewLease(step: number, dispatch: number, timeoutMs: number): Promise<PreflightResult>;
  /** A dispatched attempt's input as JSON text, for a consumer whose message could not carry it. */
  stepInput(step: number, dispatch: number): Promise<string | null>;
  llmDelta(step: number, dispatch: number, text: string): Promise<void>;
  /** The tool's breaker is open: the dispatch waits until `retryAt` without using up an attempt. */
  defer(step: number, dispatch: number, retryAt: number, error: StepError): Promise<ReportResult>;
  /** A ToolBreaker half-opened or closed, for runs it turned away. */
  breakerChanged(tool: string, state: "half_open" | "closed"): Promise<void>;
  /** Wakes the watchdog now (a step message was dead-lettered). */
  nudge(): Promise<void>;
  /** The object's fetch: WebSocket subscriptions. */
  fetch(request: Request): Promise<Response>;
}
