// RunObject: one per run, the source of truth for it. Public methods are its RPC API; every one
// that concerns a run takes the caller's tenant and answers "not found" for anyone else, so an API
// route costs one request to this object.
//
// Each command folds new events into the in-memory state as it appends them, writes them as one
// row, arms the watchdog alarm in the same synchronous turn, then does the I/O the events call
// for: send step messages, give back the tenant slot, and (off the caller's path) project into D1.
// Every such effect is also recoverable from the log alone: a crash after the write leaves a
// started step whose lease the alarm acts on, or a milestone the alarm projects.
import { DurableObject } from "cloudflare:workers";
import type { RunOptions } from "../../execution/run-options";
import type { PreflightResult, ReportResult, StepMessage, StepReport } from "../../execution/step-protocol";
import { errorFields, log } from "../../lib/log";
import type { StepError } from "../../execution/step-error";
import { newSpanId } from "../../lib/trace";
import type { Plan } from "../../execution/plan-schema";
import { EventLog, tablesOf } from "./event-log";
import { advance, breakerChanged, defer, fireDue, nextDeadline, preflight, report, skipCancelled, type Machine } from "./decide";
import { decideApproval, signal, type Decision, type DecisionResult, type SignalResult } from "./human-input";
import { cancel, endsInline, optionsFor, pause, resume, type ControlResult } from "./run-control";
import { undoOf } from "./compensation";
import type { ParentLink, RunEvent, RunEventData, RunEventType, RunSchedule } from "./run-events";
import { projectRun } from "./projection";
import { deleteRunStorage, expiresAt } from "./retention";
import { RunTracing } from "./run-tracing";
import { applyEvent, emptyState, TERMINAL_RUN, type RunState } from "./run-state";
import { PING, PONG, broadcast, subscribe } from "./subscriptions";
import { runView, type ExecutionLogEntry, type RunResource } from "./run-view";
import { UsageMeter, type RunUsage } from "../usage-meter";
import { WatchTokens, type WatchToken } from "./watch-tokens";
import { DecisionLinks, linkHash, type IssueLinkResult, type LinkLookup } from "./decision-links";
import { RunWebhooks, rememberWebhookEvents, webhookEventsOf } from "./run-webhooks";
import { emitReused, stepsToRun, type RerunSeed } from "./rerun-seed";
import { childCreated, childDispatches, childEnded, type ChildNotice } from "./children";
import { FamilyDebts, cancelChild, childRunId, createChild, notifyParent } from "./family";

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

export type ControlAnswer =
  (ControlResult & { run: RunResource }) | { ok: false; code: "run_not_found" } | { ok: false; code: "at_capacity"; in_flight: number; cap: number };

export type DecisionAnswer = { ok: true; step: ExecutionLogEntry } | Exclude<DecisionResult, { ok: true }> | { ok: false; code: "run_not_found" };
export type LinkDecisionAnswer = { ok: true; step: ExecutionLogEntry } | Exclude<LinkLookup, { ok: true }> | Exclude<DecisionResult, { ok: true }>;

interface Projection {
  seq: number;
  failures: number;
  retry_at: number;
}

/** Events after which the D1 read model is rewritten. */
const MILESTONES: ReadonlySet<RunEventType> = new Set([
  "plan.accepted",
  "compensation.started",
  "run.completed",
  "run.failed",
  "run.cancelled",
  "run.resumed",
  "run.paused",
  "run.unpaused",
]);
/** Events about undoing a step: their log line names the undo's tool, not the step's. */
const UNDO_EVENTS: ReadonlySet<RunEventType> = new Set(["compensation.step_started", "step.compensated", "step.compensation_failed"]);
const PROJECTION_RETRY_MAX_MS = 60_000;
/** Queues' limits on one sendBatch, with room for the envelope. */
const MAX_BATCH_MESSAGES = 100;
const MAX_BATCH_BYTES = 240 * 1024;
/** How long a projection under way gets before the watchdog would write it instead. */
const PROJECTION_IN_FLIGHT_MS = 5_000;
const parsed = <T>(json: string | undefined): T | undefined => (json === undefined ? undefined : (JSON.parse(json) as T));

export class RunObject extends DurableObject<Env> {
  private log: EventLog;
  private watchTokens: WatchTokens;
  private decisionLinks: DecisionLinks;
  private webhooks: RunWebhooks;
  private meter: UsageMeter;
  private state: RunState;
  private cachedView: RunResource | undefined;
  private milestoneSeq = 0;
  private projection: Projection = { seq: 0, failures: 0, retry_at: 0 };
  private projecting: Promise<void> | null = null;
  /** The alarm as last set (null: none); undefined forces the next armAlarm to write it. */
  private armedAt: number | null | undefined;
  /** The current command's events, sent to live subscribers once it has written them. */
  private emitted: RunEvent[] = [];
  /** A span per command, in the run's trace: the log lines of one decision share it. */
  private span = "";
  /** Callers of ?wait waiting for the run to end. */
  private readonly enders = new Set<() => void>();
  /** Creates run one at a time: a create awaits the tenant's slot before it writes anything. */
  private creating: Promise<unknown> = Promise.resolve();
  /** Dispatches a pre-flight check let through, in memory: a duplicate delivery finds its twin here. */
  private readonly begun = new Set<number>();
  /** What this run, once ended, still owes its parent and children. */
  private readonly family = new FamilyDebts();
  /** Injectable for tests (set through runInDurableObject): every deadline and event time uses it. */
  clock: () => number = Date.now;
  /** Spans of commands and of the run, when OTEL_EXPORTER_OTLP_ENDPOINT is set (null: none are made). */
  private readonly tracing = RunTracing.for(this.env);

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.meter = new UsageMeter();
    // SQLite calls are synchronous, so the state is rebuilt before any request is delivered.
    const tables = tablesOf(ctx.storage.sql);
    this.log = new EventLog(ctx.storage.sql, tables, (c) => this.meter.wrote(c));
    this.watchTokens = new WatchTokens(ctx.storage.sql, tables);
    this.decisionLinks = new DecisionLinks(ctx.storage.sql, tables);
    this.webhooks = this.runWebhooks(tables);
    // Heartbeats are answered by the runtime without waking the object.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING, PONG));
    this.state = emptyState();
    for (const event of this.log.all()) this.fold(event);
    // Objects from before the bookkeeping row kept these as two `meta` entries.
    const saved = this.log.getBookkeeping();
    const kept = saved ? (JSON.parse(saved) as { projection: Projection; usage: Partial<RunUsage> }) : undefined;
    const projection = kept?.projection ?? parsed<Projection>(this.log.getMeta("projection"));
    if (projection) this.projection = projection;
    const usage = kept?.usage ?? parsed<Partial<RunUsage>>(this.log.getMeta("usage"));
    if (usage) this.meter = UsageMeter.restore(usage);
    // A new object (most wake only to be created) has no alarm to look for: only commands that
    // wrote events ever set one.
    if (this.log.empty) this.armedAt = null;
    else
      void ctx.blockConcurrencyWhile(async () => {
        this.armedAt = await ctx.storage.getAlarm();
        // Self-healing on wake: work that is due with no alarm (or an overdue alarm a restarted
        // local runtime no longer fires) gets a fresh one.
        if (this.armedAt !== null && this.armedAt <= this.clock()) this.armedAt = undefined;
        if (this.state.last_seq > 0) this.armAlarm();
      });
  }

  /**
   * The run resource, built once per change: clients poll GET /runs/{id}, and between two events
   * every answer is the same.
   */
  private view(): RunResource {
    return (this.cachedView ??= runView(this.state));
  }

  private fold(event: RunEvent): void {
    this.cachedView = undefined;
    const before = this.state.status;
    applyEvent(this.state, event);
    // A run that starts or stops waiting is a milestone too: GET /runs?status=waiting reads D1.
    if (MILESTONES.has(event.type) || (this.state.status !== before && (before === "waiting" || this.state.status === "waiting")))
      this.milestoneSeq = event.seq;
  }

  private append<T extends RunEventType>(type: T, data: RunEventData[T]): number {
    const event = this.log.append(this.state.last_seq + 1, type, data, new Date(this.clock()).toISOString());
    this.fold(event);
    this.emitted.push(event);
    const d = data as { step?: number; attempt?: number; duration_ms?: number };
    const tool =
      d.step === undefined
        ? undefined
        : UNDO_EVENTS.has(type)
          ? this.state.compensation?.steps.find((u) => u.step_number === d.step)?.tool
          : this.state.steps.get(d.step)?.tool;
    log.info(type, {
      run_id: this.state.run_id,
      tenant: this.state.tenant,
      seq: event.seq,
      step: d.step,
      tool,
      attempt: d.attempt,
      duration_ms: d.duration_ms,
      trace_id: this.state.trace_id,
      span_id: this.span,
    });
    return event.seq;
  }

  private get ended(): boolean {
    return this.state.last_seq > 0 && TERMINAL_RUN.has(this.state.status);
  }

  /**
   * Runs one decision against the state, writes its events, then performs the I/O they call for.
   * `name` names its span. `request`: false for a command the object runs itself after a call it
   * made (recording a child's creation, its parent's acknowledgement), which is no request of its own.
   */
  private async command<R>(decide: (m: Machine) => R, name = "command", request = true): Promise<R> {
    const sends: StepMessage[] = [];
    const started = this.clock();
    const wasEnded = this.ended;
    const statusBefore = this.state.status;
    if (request) this.meter.request();
    this.span = newSpanId();
    this.emitted = [];
    const result = decide({
      state: this.state,
      now: this.clock(),
      clock: this.clock,
      emit: (type, data) => this.append(type, data),
      send: (message) => sends.push(this.tracing ? this.tracing.stamp(message, this.span) : message),
    });
    const events = this.emitted;
    this.log.flush();
    this.webhooks.notice(this.state, statusBefore, this.emitted);
    const births = childDispatches(this.emitted);
    broadcast(this.ctx, this.emitted);
    this.emitted = [];
    // Armed before any await, so the alarm commits atomically with the events that need it: a
    // crash after this point leaves deadlines the watchdog will act on, never a stranded step.
    this.armAlarm(PROJECTION_IN_FLIGHT_MS);
    const endedNow = !wasEnded && this.ended;
    if (endedNow) for (const wake of this.enders) wake();
    this.projectInBackground();
    this.webhooks.handOffInBackground(this.ctx, this.state, () => this.armAlarm());
    // The messages go out after the answer: the events that call for them are durable, and a
    // message that never arrives is a lease the watchdog takes back. The caller (POST /runs, a
    // consumer's report) does not wait for the queue.
    if (sends.length) this.ctx.waitUntil(this.send(sends));
    if (births.length) this.ctx.waitUntil(this.startChildren(births));
    if (this.ended && !this.family.busy && this.family.due(this.state, this.clock()) !== null) this.ctx.waitUntil(this.settleFamily());
    if (endedNow) await this.releaseSlot();
    this.tracing?.command(name, this.span, started, this.clock(), this.state, events);
    return result;
  }

  private async send(messages: StepMessage[]): Promise<void> {
    if (messages.length === 0) return;
    this.meter.queued(messages.length);
    // A batch carries at most 100 messages and 256 KB, and one input may be up to 96 KB.
    const batches: StepMessage[][] = [];
    let size = Infinity;
    for (const m of messages) {
      const bytes = JSON.stringify(m).length;
      if (size + bytes > MAX_BATCH_BYTES || batches.at(-1)!.length >= MAX_BATCH_MESSAGES) {
        batches.push([]);
        size = 0;
      }
      batches.at(-1)!.push(m);
      size += bytes;
    }
    await Promise.all(
      batches.map(async (batch) => {
        try {
          await this.env.STEPS.sendBatch(batch.map((body) => ({ body, contentType: "json" })));
        } catch (err) {
          // The steps hold leases; when they expire the alarm dispatches them again.
          log.error("step.send_failed", { run_id: this.state.run_id, steps: batch.map((s) => s.step), ...errorFields(err) });
        }
      }),
    );
  }

  /**
   * The D1 read model is written off the caller's path: POST /runs answers once the run is
   * durable here, and the alarm (armed with a grace period) writes the projection if this fails.
   */
  private projectInBackground(): void {
    if (this.projecting || this.milestoneSeq <= this.projection.seq || !this.state.run_id) return;
    this.projecting = this.projectIfDue().finally(() => {
      this.projecting = null;
      this.armAlarm();
      // A milestone that landed while this write was under way gets its own.
      if (this.milestoneSeq > this.projection.seq && this.projection.failures === 0) this.projectInBackground();
    });
    this.ctx.waitUntil(this.projecting);
  }

  private async projectIfDue(): Promise<void> {
    const projection = this.projection;
    if (this.milestoneSeq <= projection.seq || !this.state.run_id) return;
    const seq = this.state.last_seq;
    try {
      this.meter.d1(await projectRun(this.env.DB, this.state));
      this.setProjection({ seq, failures: 0, retry_at: 0 });
    } catch (err) {
      // The read model catches up later: the alarm retries with backoff until the write lands.
      const failures = projection.failures + 1;
      const delay = Math.min(PROJECTION_RETRY_MAX_MS, 500 * 2 ** (failures - 1));
      this.setProjection({ seq: projection.seq, failures, retry_at: this.clock() + delay });
      log.error("projection.failed", { run_id: this.state.run_id, failures, retry_in_ms: delay, ...errorFields(err) });
    }
  }

  /** Saves the projection's bookkeeping with the usage counters: one write that happens anyway. */
  private setProjection(p: Projection): void {
    this.projection = p;
    this.log.setBookkeeping(JSON.stringify({ projection: p, usage: this.meter.usage }));
  }

  /**
   * Gives the run's in-flight slot back to its tenant. Best effort: if this is lost, the tenant's
   * limiter frees the slot itself once it asks this object and finds the run ended.
   */
  private async releaseSlot(): Promise<void> {
    if (!this.state.holds_slot) return;
    try {
      this.meter.request(await this.env.TENANTS.getByName(this.state.tenant).release(this.state.run_id));
    } catch (err) {
      log.warn("tenant.release_failed", { run_id: this.state.run_id, tenant: this.state.tenant, ...errorFields(err) });
    }
  }

  private async takeSlot(
    runId: string,
    tenant: string,
    cap: number,
  ): Promise<{ ok: true; webhook_events: string[] } | { ok: false; in_flight: number; cap: number }> {
    const r = await this.env.TENANTS.getByName(tenant).acquire(runId, cap);
    this.meter.request(r.rows_written);
    return r.ok
      ? { ok: true, webhook_events: rememberWebhookEvents(tenant, r.webhook_events, this.clock()) }
      : { ok: false, in_flight: r.in_flight, cap: r.cap };
  }

  /** One alarm serves every deadline: leases, retries, timers, the run's deadline, projection retries. */
  private armAlarm(projectionGraceMs = 0): void {
    const now = this.clock();
    const projectionDue = this.milestoneSeq > this.projection.seq;
    const candidates = [
      nextDeadline(this.state, now),
      projectionDue ? Math.max(this.projection.retry_at, now + projectionGraceMs) : null,
      this.webhooks.nextDue(now, projectionGraceMs),
      // An ended run's retention: armed in the turn it ends, so every ended run is deleted in time.
      expiresAt(this.state),
      this.ended && !this.family.busy ? this.family.due(this.state, now) : null,
    ].filter((t): t is number => t !== null);
    const next = candidates.length ? Math.min(...candidates) : null;
    if (next === this.armedAt) return;
    // Not awaited: the write joins the current storage batch and the output gate holds replies until it lands.
    if (next === null) void this.ctx.storage.deleteAlarm();
    else void this.ctx.storage.setAlarm(next);
    this.armedAt = next;
  }

  /** Resolves when the run has ended, or after `ms`. */
  private async untilEnded(ms: number | undefined): Promise<void> {
    if (!ms || this.ended) return;
    let wake = () => {};
    const ended = new Promise<void>((resolve) => (wake = resolve));
    this.enders.add(wake);
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([ended, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      this.enders.delete(wake);
    }
  }

  /**
   * Creates the run, or answers a replay. Without a plan it only tells a replay from a new run,
   * so a replay is never planned again. A run that will stay in flight takes its tenant's slot
   * first; a run whose steps all run inline ends in this very command and needs none.
   */
  async create(input: CreateRunInput): Promise<CreateRunResult> {
    const turn = this.creating.then(() => this.createNow(input));
    this.creating = turn.catch(() => {});
    const result = await turn;
    if (result.outcome === "created" || result.outcome === "existing") {
      await this.untilEnded(input.wait_ms);
      return { outcome: result.outcome, run: this.view() };
    }
    return result;
  }

  private async createNow(input: CreateRunInput): Promise<CreateRunResult> {
    if (this.state.last_seq > 0) {
      // Run ids from Idempotency-Keys are derived per tenant, so a tenant mismatch cannot be a
      // replay; it is answered like any conflict and reveals nothing about the run.
      if (this.state.tenant !== input.tenant || this.state.request_hash !== input.request_hash) return { outcome: "conflict", run_id: input.run_id };
      // A replay is also a chance to finish what a crash interrupted (a missing projection).
      this.projectInBackground();
      return { outcome: "existing", run: this.view() };
    }
    const plan = input.plan;
    if (!plan) return { outcome: "needs_plan" };
    const holdsSlot = !endsInline(stepsToRun(plan.steps, input.rerun));
    // Which events the tenant's webhooks want: from the slot's answer, or (no slot) a cached copy.
    let webhookEvents: string[];
    if (holdsSlot) {
      const slot = await this.takeSlot(input.run_id, input.tenant, input.cap);
      if (!slot.ok) return { outcome: "at_capacity", in_flight: slot.in_flight, cap: slot.cap };
      webhookEvents = slot.webhook_events;
    } else webhookEvents = await webhookEventsOf(this.env, input.tenant, this.clock());
    await this.command((m) => {
      m.emit("run.created", {
        run_id: input.run_id,
        tenant: input.tenant,
        prompt: input.prompt,
        options: optionsFor(input.options, plan.steps),
        request_hash: input.request_hash,
        trace_id: input.trace_id,
        ...(input.parent_span_id ? { parent_span_id: input.parent_span_id } : {}),
        ...(input.retention_days ? { retention_days: input.retention_days } : {}),
        holds_slot: holdsSlot,
        ...(input.schedule ? { schedule: input.schedule } : {}),
        ...(input.webhook ? { webhook: input.webhook } : {}),
        ...(webhookEvents.length ? { webhook_events: webhookEvents } : {}),
        ...(input.rerun ? { rerun_of: input.rerun.of } : {}),
        ...(input.parent ? { parent: input.parent } : {}),
      });
      m.emit("plan.accepted", { plan });
      emitReused(m, input.rerun);
      advance(m);
    }, "create");
    return { outcome: "created", run: this.view() };
  }

  private owns(tenant: string): boolean {
    return this.state.last_seq > 0 && this.state.tenant !== "" && this.state.tenant === tenant;
  }

  /** The run, for its own tenant only: to anyone else it does not exist. */
  async getRun(tenant: string): Promise<RunResource | null> {
    return this.owns(tenant) ? this.view() : null;
  }

  /** The run's status, for the service itself (tenant slots, health): null when there is no run. */
  async status(): Promise<RunResource["status"] | null> {
    return this.state.last_seq > 0 ? this.state.status : null;
  }

  /**
   * A short-lived token that opens this run's WebSocket or SSE stream without an Authorization
   * header (browsers cannot send one on a WebSocket), as often as needed until it expires.
   */
  async issueWatchToken(tenant: string): Promise<WatchToken | "not_found" | "too_many"> {
    if (!this.owns(tenant)) return "not_found";
    return (await this.watchTokens.issue(tenant)) ?? "too_many";
  }

  async getUsage(tenant: string): Promise<RunUsage | null> {
    return this.owns(tenant) ? { ...this.meter.usage } : null;
  }

  async listEvents(tenant: string, after: number, limit: number): Promise<{ events: RunEvent[]; last_seq: number } | null> {
    if (!this.owns(tenant)) return null;
    return { events: this.log.after(after, limit), last_seq: this.state.last_seq };
  }

  /** Consumers report dispatches, several at once when they finished together. */
  async report(reports: StepReport[]): Promise<ReportResult[]> {
    if (this.state.last_seq === 0) return reports.map(() => ({ accepted: false, reason: "run_not_found" }));
    this.tracing?.adopt(reports);
    const results = await this.command((m) => report(m, reports), "report");
    results.forEach((r, i) => {
      if (!r.accepted)
        log.warn("step.report_ignored", {
          run_id: this.state.run_id,
          step: reports[i]!.step,
          dispatch: reports[i]!.dispatch,
          reason: r.reason,
          trace_id: this.state.trace_id,
        });
    });
    return results;
  }

  /**
   * Asked before a tool with side effects runs. Writes nothing: a cancelled run or a superseded
   * dispatch answers no, and so does a second delivery of a dispatch already let through here.
   */
  async preflight(step: number, dispatch: number): Promise<PreflightResult> {
    this.meter.request();
    if (this.state.last_seq === 0) return { go: false, reason: "run_not_found" };
    const answer = preflight(this.state, step, dispatch);
    // Being cancelled with compensation: this dispatch never runs, so the run need not wait for
    // its lease; it is recorded as skipped now (the only pre-flight answer that writes).
    if (!answer.go && answer.reason === "cancelling") await this.command((m) => skipCancelled(m, step, dispatch), "skipCancelled");
    if (!answer.go) return answer;
    if (this.begun.has(dispatch)) return { go: false, reason: "already_started" };
    this.begun.add(dispatch);
    return answer;
  }

  /**
   * A dispatched step's input as JSON text, for a consumer whose message could not carry it (too
   * large). Text, because RPC's types cannot follow a recursive JSON type this deep.
   */
  async stepInput(step: number, dispatch: number): Promise<string | null> {
    this.meter.request();
    const s = this.state.steps.get(step);
    const attempt = s?.dispatch_seq === dispatch ? s : undoOf(this.state, step, dispatch);
    if (!attempt) return null;
    return JSON.stringify(attempt.resolved_input ?? null);
  }

  /** With `compensate`, steps in flight finish, then what succeeded is undone before the run ends cancelled. */
  async cancel(tenant: string, options: { compensate?: boolean; reason?: string } = {}): Promise<ControlAnswer> {
    if (!this.owns(tenant)) return { ok: false, code: "run_not_found" };
    const result = await this.command((m) => cancel(m, options.reason ?? "Cancelled by request.", options.compensate ?? false), "cancel");
    return { ...result, run: this.view() };
  }

  /** A person's decision on a waiting approval step; answers the step as it now stands. */
  async decide(tenant: string, step: number, decision: Decision): Promise<DecisionAnswer> {
    if (!this.owns(tenant)) return { ok: false, code: "run_not_found" };
    const result = await this.command((m) => decideApproval(m, step, decision), "decide");
    if (!result.ok) return result;
    return { ok: true, step: this.view().execution_log.find((s) => s.step_number === step)! };
  }

  /** A pair of single-use links (approve, reject) that decide a waiting approval without an API key. */
  async issueDecisionLinks(tenant: string, step: number): Promise<IssueLinkResult | { ok: false; code: "run_not_found" }> {
    if (!this.owns(tenant)) return { ok: false, code: "run_not_found" };
    return this.decisionLinks.issue(this.state, step, this.clock());
  }

  /** What a decision link would decide, for its confirmation page: reads only. */
  async lookupDecisionLink(token: string): Promise<LinkLookup> {
    return this.decisionLinks.find(this.state, await linkHash(token), this.clock());
  }

  /** Decides with a link: the check, the decision and spending the pair happen in one turn, so a link counts once. */
  async decideByLink(token: string, comment: string | null): Promise<LinkDecisionAnswer> {
    const hash = await linkHash(token);
    const found = this.decisionLinks.find(this.state, hash, this.clock());
    if (!found.ok) return found;
    const { step, decision, pair } = found.link;
    const result = await this.command((m) => {
      const r = decideApproval(m, step, { decision, comment, by: "link" });
      if (r.ok) this.decisionLinks.spend(pair, m.now);
      return r;
    }, "decide");
    if (!result.ok) return result;
    return { ok: true, step: this.view().execution_log.find((s) => s.step_number === step)! };
  }

  /** A signal for the run's Wait.signal steps: taken now by the one waiting for it, or kept. */
  async signal(tenant: string, name: string, payload: unknown): Promise<SignalResult | { ok: false; code: "run_not_found" }> {
    if (!this.owns(tenant)) return { ok: false, code: "run_not_found" };
    return this.command((m) => signal(m, name, payload), "signal");
  }

  /** Nothing new is dispatched until resume; what is in flight finishes and is recorded. */
  async pause(tenant: string, reason = "Paused by request."): Promise<ControlAnswer> {
    if (!this.owns(tenant)) return { ok: false, code: "run_not_found" };
    const result = await this.command((m) => pause(m, reason), "pause");
    return { ...result, run: this.view() };
  }

  /** A resumed failed or cancelled run is in flight again, so it takes a slot under the tenant's cap first (a paused one still holds its slot). */
  async resume(tenant: string, cap: number): Promise<ControlAnswer> {
    if (!this.owns(tenant)) return { ok: false, code: "run_not_found" };
    if (this.state.status !== "failed" && this.state.status !== "cancelled") {
      const result = await this.command((m) => resume(m), "resume");
      return { ...result, run: this.view() };
    }
    const slot = await this.takeSlot(this.state.run_id, tenant, cap);
    if (!slot.ok) return { ok: false, code: "at_capacity", in_flight: slot.in_flight, cap: slot.cap };
    const result = await this.command((m) => resume(m), "resume");
    return { ...result, run: this.view() };
  }

  /** The tool's breaker is open: the dispatch waits until `retryAt` without using up an attempt. */
  async defer(step: number, dispatch: number, retryAt: number, error: StepError): Promise<ReportResult> {
    if (this.state.last_seq === 0) return { accepted: false, reason: "run_not_found" };
    return this.command((m) => defer(m, step, dispatch, retryAt, error), "defer");
  }

  /** Called by a ToolBreaker that half-opened or closed, for runs it turned away. */
  async breakerChanged(tool: string, state: "half_open" | "closed"): Promise<void> {
    if (this.state.last_seq === 0) return;
    await this.command((m) => breakerChanged(m, tool, state), "breakerChanged");
  }

  /**
   * Creates the children of Run.start dispatches, one after another, and records each outcome as
   * its own command. A crash in between leaves the dispatch's lease, and the watchdog's retry
   * finds the child already made.
   */
  private async startChildren(births: { step: number; dispatch: number }[]): Promise<void> {
    for (const { step, dispatch } of births) {
      const s = this.state.steps.get(step);
      if (!s || s.dispatch_seq !== dispatch || s.status !== "running") continue;
      const start = await createChild(this.env, this.state, step);
      // The replay check startRun makes first: the child's object answers it without a command, so
      // it counts it nowhere. The create itself is the child's command, counted by the child.
      this.meter.request();
      await this.command((m) => childCreated(m, step, dispatch, start), "childCreated", false);
    }
  }

  /** A child run says it ended: recorded once; a step waiting for it ends with it. */
  async childEnded(notice: ChildNotice): Promise<{ acknowledged: boolean }> {
    if (!this.owns(notice.tenant)) return { acknowledged: false };
    const known = this.state.children.some((c) => c.run_id === notice.run_id) || (await childRunId(this.state, notice.step)) === notice.run_id;
    if (!known) return { acknowledged: false };
    await this.command((m) => childEnded(m, notice), "childEnded");
    return { acknowledged: true };
  }

  /** Pays what an ended run owes its family: its end told to its parent, its children cancelled. The alarm retries on failure. */
  private async settleFamily(): Promise<void> {
    if (this.family.busy) return;
    this.family.busy = true;
    try {
      const owed = this.family.owed(this.state);
      for (const id of owed.children) {
        // Counted by the child, whose command the cancel is.
        await cancelChild(this.env, this.state, id);
        this.family.cancelSent.add(id);
      }
      if (owed.parent) {
        // Counted by the parent, whose command the notice is.
        await notifyParent(this.env, this.state);
        await this.command((m) => m.emit("parent.notified", { status: m.state.status }), "parentNotified", false);
      }
      this.family.succeeded();
    } catch (err) {
      const delay = this.family.failed(this.clock());
      log.warn("family.notify_failed", { run_id: this.state.run_id, retry_in_ms: delay, ...errorFields(err) });
    } finally {
      this.family.busy = false;
      this.armAlarm();
    }
  }

  /**
   * `fetch` only upgrades WebSockets: GET /ws?after=SEQ subscribes to the run's events, for the
   * tenant in `x-crane-tenant` (set by the API from the caller's key) or the bearer of a watch token.
   */
  override async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname !== "/ws" || request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return new Response("expected a WebSocket upgrade to /ws", { status: 426 });
    }
    const token = url.searchParams.get("token");
    // A token that opens nothing is 401 whether or not the run exists (so it tells nobody which
    // run ids exist): its bearer needs a new one. A key whose tenant does not own the run is 404.
    if (token !== null && !(this.state.last_seq > 0 && (await this.watchTokens.valid(token, this.state.tenant)))) return new Response(null, { status: 401 });
    if (token === null && !this.owns(request.headers.get("x-crane-tenant") ?? "")) return new Response(null, { status: 404 });
    const after = Math.max(0, Number(url.searchParams.get("after") ?? 0) || 0);
    return subscribe(this.ctx, this.log, after, { last_seq: this.state.last_seq, ended: this.ended });
  }

  /** Subscribers only listen; anything they send besides the heartbeat is ignored. */
  override async webSocketMessage(): Promise<void> {}

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    try {
      ws.close(code === 1005 ? 1000 : code, reason);
    } catch {
      // already closed
    }
  }

  /**
   * The run's retention has passed: its storage is deleted, and the object is as new, so every
   * request for the run answers "not found". An Idempotency-Key is remembered as long as its run:
   * used again after this, it starts a new run (docs/architecture.md, "Retention").
   */
  private runWebhooks(tables: Set<string>): RunWebhooks {
    return new RunWebhooks(this.ctx.storage.sql, tables, this.env, () => this.clock(), {
      request: () => this.meter.request(),
      wrote: (c) => this.meter.wrote(c),
    });
  }

  private async forget(): Promise<void> {
    const { run_id, tenant } = this.state;
    await deleteRunStorage(this.ctx.storage);
    for (const ws of this.ctx.getWebSockets()) ws.close(1000, "run deleted");
    this.meter = new UsageMeter();
    this.log = new EventLog(this.ctx.storage.sql, new Set(), (c) => this.meter.wrote(c));
    this.watchTokens = new WatchTokens(this.ctx.storage.sql, new Set());
    this.decisionLinks = new DecisionLinks(this.ctx.storage.sql, new Set());
    this.webhooks = this.runWebhooks(new Set());
    this.state = emptyState();
    this.cachedView = undefined;
    this.milestoneSeq = 0;
    this.projection = { seq: 0, failures: 0, retry_at: 0 };
    this.armedAt = null;
    this.begun.clear();
    log.info("run.deleted", { run_id, tenant });
  }

  /** Wakes the watchdog now (used when a step message was dead-lettered). */
  async nudge(): Promise<void> {
    if (this.state.last_seq === 0) return;
    await this.command((m) => fireDue(m), "nudge");
  }

  /** The watchdog: expired leases, due retries, finished timers, the run's deadline, a lagging projection. */
  override async alarm(): Promise<void> {
    this.armedAt = null; // a fired alarm is no longer set
    if (this.state.last_seq === 0) return;
    if (this.webhooks.due) await this.webhooks.handOff(this.state);
    if (this.ended && this.family.due(this.state, this.clock()) !== null) await this.settleFamily();
    if ((expiresAt(this.state) ?? Infinity) <= this.clock()) return this.forget();
    if (this.ended && this.milestoneSeq > this.projection.seq) {
      // Only the projection is due: no command, no events.
      this.meter.request();
      await this.projectIfDue();
      this.armAlarm();
      return;
    }
    await this.command((m) => fireDue(m), "alarm");
  }
}
