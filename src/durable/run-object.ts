import { DurableObject } from "cloudflare:workers";
import { errorFields, log } from "../lib/log";
import { newSpanId } from "../lib/trace";
import type { RunOptions } from "../execution/run-options";
import type { Plan } from "../planner/plan-schema";
import type { StepMessage } from "../queues/step-message";
import { EventLog } from "./event-log";
import { PING, PONG, broadcast, subscribe } from "./run-subscriptions";
import type { RunEvent, RunEventData, RunEventType } from "./run-events";
import type { StepError } from "../lib/step-error";
import { advance, breakerChanged, type BreakerOpened, cancel, claim, defer, fireDue, nextDeadline, report, resume, type ClaimResult, type ControlResult, type Machine, type Outcome, type ReportResult } from "./run-machine";
import { projectRun } from "./run-projection";
import { applyEvent, emptyState, TERMINAL_RUN, type RunState } from "./run-state";
import { WatchTokens, type WatchToken } from "./watch-tokens";
import { runView, type RunResource } from "./run-view";

/**
 * RunObject: one per run, the source of truth for it. Public methods are its RPC API.
 * Each command folds new events into the in-memory state as it appends them, then does the I/O
 * the events call for: send step messages, project milestones into D1, re-arm the watchdog alarm.
 * Every such effect is also recoverable from the log alone: a crash between appending and sending
 * leaves a queued step whose dispatch deadline the alarm acts on.
 */
export interface CreateRunInput {
  run_id: string;
  tenant: string;
  prompt: string | null;
  plan: Plan;
  options: RunOptions;
  request_hash: string;
  trace_id: string;
}

export type CreateRunResult = { outcome: "created" | "existing"; run: RunResource } | { outcome: "conflict"; run_id: string };

/**
 * What this run has cost, counted as it happens: write commands received (RPC calls and alarms,
 * each a billed Durable Object request), SQLite rows written, queue messages sent, D1 statements
 * and rows written. Kept in memory and saved with each projection (a write that happens anyway),
 * so counting adds no writes of its own; after an eviction, counts since the last milestone are lost.
 */
export interface RunUsage {
  do_requests: number;
  storage_rows_written: number;
  queue_messages: number;
  d1_statements: number;
  d1_rows_written: number;
}

interface Projection {
  seq: number;
  failures: number;
  retry_at: number;
}

/** Events after which the D1 read model is rewritten. */
const MILESTONES: ReadonlySet<RunEventType> = new Set(["plan.accepted", "run.completed", "run.failed", "run.cancelled", "run.resumed"]);
const PROJECTION_RETRY_MAX_MS = 60_000;
/** How long a projection this command is writing gets before the watchdog would write it instead. */
const PROJECTION_IN_FLIGHT_MS = 5_000;

export class RunObject extends DurableObject<Env> {
  private readonly log: EventLog;
  private readonly watchTokens: WatchTokens;
  private state: RunState;
  private milestoneSeq = 0;
  /** The D1 projection's bookkeeping (last projected seq, retry schedule), read once from storage. */
  private projection: Projection = { seq: 0, failures: 0, retry_at: 0 };
  private usage: RunUsage = { do_requests: 0, storage_rows_written: 0, queue_messages: 0, d1_statements: 0, d1_rows_written: 0 };
  /** The alarm as last set (null: none); undefined forces the next armAlarm to write it. */
  private armedAt: number | null | undefined;
  /** A span per command, in the run's trace: the log lines of one decision share it. */
  private span = "";

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    // SQLite calls are synchronous, so the state is rebuilt before any request is delivered.
    this.log = new EventLog(ctx.storage.sql);
    this.watchTokens = new WatchTokens(ctx.storage.sql);
    // Heartbeats are answered by the runtime without waking the object.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING, PONG));
    this.state = emptyState();
    for (const event of this.log.all()) this.fold(event);
    const projection = this.log.getMeta("projection");
    if (projection) this.projection = JSON.parse(projection) as Projection;
    const saved = this.log.getMeta("usage");
    if (saved) this.usage = JSON.parse(saved) as RunUsage;
    void ctx.blockConcurrencyWhile(async () => {
      this.armedAt = await ctx.storage.getAlarm();
      // Self-healing on wake: work that is due with no alarm (or an overdue alarm a restarted
      // local runtime no longer fires) gets a fresh one.
      if (this.armedAt !== null && this.armedAt <= Date.now()) this.armedAt = undefined;
      if (this.state.last_seq > 0) this.armAlarm();
    });
  }

  private fold(event: RunEvent): void {
    applyEvent(this.state, event);
    if (MILESTONES.has(event.type)) this.milestoneSeq = event.seq;
  }

  private append<T extends RunEventType>(type: T, data: RunEventData[T]): void {
    const event = this.log.append(this.state.last_seq + 1, type, data, new Date().toISOString());
    this.usage.storage_rows_written += 1;
    this.fold(event);
    const d = data as { step?: number; attempt?: number; duration_ms?: number };
    const tool = d.step !== undefined ? this.state.steps.get(d.step)?.tool : undefined;
    broadcast(this.ctx, event);
    log.info(type, { run_id: this.state.run_id, tenant: this.state.tenant, seq: event.seq, step: d.step, tool, attempt: d.attempt, duration_ms: d.duration_ms, trace_id: this.state.trace_id, span_id: this.span });
  }

  /** Runs one decision against the state, then performs the I/O its events call for. */
  private async command<R>(decide: (m: Machine) => R): Promise<R> {
    const sends: StepMessage[] = [];
    const wasTerminal = TERMINAL_RUN.has(this.state.status) && this.state.last_seq > 0;
    this.usage.do_requests += 1;
    this.span = newSpanId();
    const result = decide({
      state: this.state,
      now: Date.now(),
      emit: (type, data) => this.append(type, data),
      send: (step, attempt, tool) => sends.push({ run_id: this.state.run_id, tenant: this.state.tenant, step, attempt, tool, trace_id: this.state.trace_id }),
    });
    // Armed before any await, so the alarm commits atomically with the events that need it: a
    // crash after this point leaves deadlines the watchdog will act on, never a stranded step.
    // The projection is about to be written by this very command, so its deadline here is a
    // fallback a little later, not "now": an alarm firing mid-command would be a wasted request.
    this.armAlarm(PROJECTION_IN_FLIGHT_MS);
    // The queue send and the D1 projection are independent: do them at the same time.
    const ended = !wasTerminal && TERMINAL_RUN.has(this.state.status);
    await Promise.all([this.send(sends), this.projectIfDue(), ended ? this.releaseSlot() : undefined]);
    this.armAlarm();
    return result;
  }

  private async send(messages: StepMessage[]): Promise<void> {
    if (messages.length === 0) return;
    this.usage.queue_messages += messages.length;
    try {
      await this.env.STEPS.sendBatch(messages.map((body) => ({ body, contentType: "json" })));
    } catch (err) {
      // The steps stay queued with a dispatch deadline; the alarm sends them again.
      log.error("step.send_failed", { run_id: this.state.run_id, steps: messages.map((s) => s.step), ...errorFields(err) });
    }
  }

  private async projectIfDue(): Promise<void> {
    const projection = this.projection;
    if (this.milestoneSeq <= projection.seq || !this.state.run_id) return;
    try {
      const cost = await projectRun(this.env.DB, this.state);
      this.usage.d1_statements += cost.statements;
      this.usage.d1_rows_written += cost.rows_written;
      this.usage.storage_rows_written += 2;
      this.setProjection({ seq: this.state.last_seq, failures: 0, retry_at: 0 });
      this.log.setMeta("usage", JSON.stringify(this.usage));
    } catch (err) {
      // The read model catches up later: the alarm retries with backoff until the write lands.
      const failures = projection.failures + 1;
      const delay = Math.min(PROJECTION_RETRY_MAX_MS, 500 * 2 ** (failures - 1));
      this.usage.storage_rows_written += 1;
      this.setProjection({ seq: projection.seq, failures, retry_at: Date.now() + delay });
      log.error("projection.failed", { run_id: this.state.run_id, failures, retry_in_ms: delay, ...errorFields(err) });
    }
  }

  /**
   * Gives the run's in-flight slot back to its tenant. Best effort: if this is lost, the tenant's
   * limiter frees the slot itself once it asks this object and finds the run ended.
   */
  private async releaseSlot(): Promise<void> {
    if (!this.state.tenant) return; // a run from before tenants held no slot
    // A request to the TenantLimiter, billed like any other, which deletes the slot's row.
    this.usage.do_requests += 1;
    this.usage.storage_rows_written += 1;
    try {
      await this.env.TENANTS.getByName(this.state.tenant).release(this.state.run_id);
    } catch (err) {
      log.warn("tenant.release_failed", { run_id: this.state.run_id, tenant: this.state.tenant, ...errorFields(err) });
    }
  }

  /** Saves the projection's bookkeeping, keeping the in-memory copy in step with storage. */
  private setProjection(p: Projection): void {
    this.projection = p;
    this.log.setMeta("projection", JSON.stringify(p));
  }

  /** One alarm serves every deadline: leases, retries, timers, lost messages, projection retries. */
  private armAlarm(projectionGraceMs = 0): void {
    const projection = this.projection;
    const projectionDue = this.milestoneSeq > projection.seq;
    const candidates = [nextDeadline(this.state), projectionDue ? Math.max(projection.retry_at, Date.now() + projectionGraceMs) : null].filter((t): t is number => t !== null);
    const next = candidates.length ? Math.min(...candidates) : null;
    if (next === this.armedAt) return;
    // Not awaited: the write joins the current storage batch and the output gate holds replies until it lands.
    if (next === null) void this.ctx.storage.deleteAlarm();
    else void this.ctx.storage.setAlarm(next);
    this.armedAt = next;
  }

  async create(input: CreateRunInput): Promise<CreateRunResult> {
    if (this.state.last_seq > 0) {
      // Run ids from Idempotency-Keys are derived per tenant, so a tenant mismatch cannot be a
      // replay; it is answered like any conflict and reveals nothing about the run.
      if (this.state.tenant !== input.tenant || this.state.request_hash !== input.request_hash) return { outcome: "conflict", run_id: input.run_id };
      // A replay is also a chance to finish what a crash interrupted (a missing projection).
      await this.projectIfDue();
      return { outcome: "existing", run: runView(this.state) };
    }
    // The API took this run's slot from its TenantLimiter just before: a DO request (and a row)
    // this run caused, counted here so the run's cost includes it.
    this.usage.do_requests += 1;
    this.usage.storage_rows_written += 1;
    await this.command((m) => {
      m.emit("run.created", { run_id: input.run_id, tenant: input.tenant, prompt: input.prompt, options: input.options, request_hash: input.request_hash, trace_id: input.trace_id });
      m.emit("plan.accepted", { plan: input.plan });
      advance(m);
    });
    return { outcome: "created", run: runView(this.state) };
  }

  /** The run, for its own tenant only: to anyone else it does not exist. */
  async getRun(tenant: string): Promise<RunResource | null> {
    return this.owns(tenant) ? runView(this.state) : null;
  }

  /** The run's status, for the service itself (tenant slots, health): null when there is no run. */
  async status(): Promise<RunResource["status"] | null> {
    return this.state.last_seq > 0 ? this.state.status : null;
  }

  private owns(tenant: string): boolean {
    return this.state.last_seq > 0 && this.state.tenant !== "" && this.state.tenant === tenant;
  }

  /**
   * A short-lived, single-use token that opens this run's WebSocket or SSE stream without an
   * Authorization header (browsers cannot send one on a WebSocket).
   */
  async issueWatchToken(tenant: string): Promise<WatchToken | "not_found" | "too_many"> {
    if (!this.owns(tenant)) return "not_found";
    return (await this.watchTokens.issue()) ?? "too_many";
  }

  async redeemWatchToken(token: string): Promise<boolean> {
    if (this.state.last_seq === 0) return false;
    return this.watchTokens.redeem(token);
  }

  async getUsage(): Promise<RunUsage> {
    return { ...this.usage };
  }

  async listEvents(tenant: string, after: number, limit: number): Promise<{ events: RunEvent[]; last_seq: number } | null> {
    if (!this.owns(tenant)) return null;
    return { events: this.log.after(after, limit), last_seq: this.state.last_seq };
  }

  async claim(step: number, attempt: number): Promise<ClaimResult> {
    const result = await this.command((m) => claim(m, step, attempt));
    if (!result.ok) log.warn("step.claim_rejected", { run_id: this.state.run_id, step, attempt, reason: result.reason, trace_id: this.state.trace_id });
    return result;
  }

  /** `opened`: this outcome tripped the tool's breaker, which the run records as breaker.opened. */
  async report(step: number, attempt: number, outcome: Outcome, opened?: BreakerOpened): Promise<ReportResult> {
    const result = await this.command((m) => report(m, step, attempt, outcome, opened));
    if (!result.accepted) log.warn("step.report_ignored", { run_id: this.state.run_id, step, attempt, reason: result.reason, trace_id: this.state.trace_id });
    return result;
  }

  async cancel(reason = "Cancelled by request."): Promise<ControlResult & { run?: RunResource }> {
    const result = await this.command((m) => cancel(m, reason));
    return { ...result, run: runView(this.state) };
  }

  async resume(): Promise<ControlResult & { run?: RunResource }> {
    const result = await this.command((m) => resume(m));
    return { ...result, run: runView(this.state) };
  }

  /** The tool's breaker is open: the attempt waits until `retryAt` without using up an attempt. */
  async defer(step: number, attempt: number, retryAt: number, error: StepError): Promise<ReportResult> {
    return this.command((m) => defer(m, step, attempt, retryAt, error));
  }

  /** Called by a ToolBreaker that half-opened or closed, for runs it turned away. */
  async breakerChanged(tool: string, state: "half_open" | "closed"): Promise<void> {
    await this.command((m) => breakerChanged(m, tool, state));
  }

  /**
   * `fetch` only upgrades WebSockets: GET /ws?after=SEQ subscribes to the run's events (the API
   * checked the run exists and the parameters are valid).
   */
  override async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname !== "/ws" || request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return new Response("expected a WebSocket upgrade to /ws", { status: 426 });
    }
    return subscribe(this.ctx, this.log, Math.max(0, Number(url.searchParams.get("after") ?? 0) || 0));
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

  /** Wakes the watchdog now (used when a step message was dead-lettered). */
  async nudge(): Promise<void> {
    await this.command((m) => fireDue(m));
  }

  /** The watchdog: expired leases, due retries, finished timers, lost messages, lagging projection. */
  override async alarm(): Promise<void> {
    this.armedAt = null; // a fired alarm is no longer set
    if (this.state.last_seq === 0) return;
    await this.command((m) => fireDue(m));
  }
}
