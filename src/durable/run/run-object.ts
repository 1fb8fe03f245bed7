// RunObject: one per run, the source of truth for it. Its public methods are its RPC API
// (contract.ts); every one that concerns a run takes the caller's tenant and answers "not found"
// for anyone else, so an API route costs one request to this object. Each method is a command on
// the host (run-host.ts) over a decision of the pure domain (domain/), or a read of its storage.
import type { StepError } from "../../execution/step-error";
import type { PreflightResult, ReportAnswer, ReportResult, StepMessage, StepReport } from "../../execution/step-protocol";
import { Backoff, BACKGROUND_RETRY } from "../../execution/backoff";
import { errorFields, log } from "../../lib/log";
import type * as C from "./contract";
import { childEnded, type ChildNotice } from "./domain/children";
import { cancel, pause, resume, type ControlResult } from "./domain/control";
import { createRun } from "./domain/create";
import { breakerChanged, defer, fireDue, preflight, renewLease, report, resendDue, skipCancelled, type Machine } from "./domain/decide";
import { emptyState } from "./domain/state";
import { decideApproval, signal, type Decision } from "./domain/human-input";
import { beginModelCall, recordDelta } from "./domain/agent/deltas";
import { attemptInput, findWork } from "./domain/work";
import { llmUsage } from "./run-view";
import { childRunId } from "./effects/family";
import { deleteRunStorage, expiresAt } from "./effects/retention";
import { stepQueueFor } from "./effects/step-queues";
import { stepQueueOldest } from "./effects/step-sender";
import { admit, takeSlot } from "./effects/tenant-slot";
import { linkHash } from "./storage/decision-links";
import { closed, upgrade } from "./storage/subscriptions";
import { UsageMeter } from "./storage/usage-meter";

/** How long a projection under way gets before the watchdog would write it instead. */
const NOT_FOUND = { ok: false, code: "run_not_found" } as const;

import { RunHost } from "./run-host";

export class RunObject extends RunHost implements C.RunRpc {
  private readonly alarmFailures = new Backoff(BACKGROUND_RETRY);

  /**
   * Creates the run, or answers a replay. Without a plan it only tells a replay from a new run,
   * so a replay is never planned again. A run that will stay in flight takes its tenant's slot
   * first; a run whose steps all run inline ends in this very command and needs none.
   */
  async create(input: C.CreateRunInput): Promise<C.CreateRunResult> {
    const turn = this.creating.then(() => this.createNow(input));
    this.creating = turn.catch(() => {});
    const result = await turn;
    if (result.outcome !== "created" && result.outcome !== "existing") return result;
    if (input.wait_ms && !this.ended) await this.enders.until(input.wait_ms);
    return { outcome: result.outcome, run: this.view() };
  }

  private async createNow(input: C.CreateRunInput): Promise<C.CreateRunResult> {
    if (this.state.last_seq > 0) {
      // Run ids from Idempotency-Keys are derived per tenant, so a tenant mismatch cannot be a
      // replay; it is answered like any conflict and reveals nothing about the run.
      if (this.state.tenant !== input.tenant || this.state.request_hash !== input.request_hash) return { outcome: "conflict", run_id: input.run_id };
      // A replay is also a chance to finish what a crash interrupted (a missing projection).
      this.projector.inBackground(this.ctx, this.state, () => this.armAlarm());
      return { outcome: "existing", run: this.view() };
    }
    const { plan, wait_ms: _wait, cap: _cap, ...rest } = input;
    if (!plan) return { outcome: "needs_plan" };
    const admitted = await admit(this.env, this.meter, { ...input, plan }, this.clock());
    if (!admitted.ok) return { outcome: "at_capacity", in_flight: admitted.in_flight, cap: admitted.cap };
    await this.command(
      (m) => createRun(m, { ...rest, plan, holds_slot: admitted.holds_slot, slot_shard: admitted.slot_shard, webhook_events: admitted.webhook_events }),
      "create",
    );
    return { outcome: "created", run: this.view() };
  }

  async getRun(tenant: string): Promise<C.RunResource | null> {
    return this.owns(tenant) ? this.view() : null;
  }

  /** The run's status, for the service itself (tenant slots, health): null when there is no run. */
  async status(): Promise<C.RunResource["status"] | null> {
    return this.state.last_seq > 0 ? this.state.status : null;
  }

  /** A short-lived token that opens this run's WebSocket or SSE stream without an Authorization header. */
  async issueWatchToken(tenant: string) {
    if (!this.owns(tenant)) return "not_found" as const;
    return (await this.watchTokens.issue(tenant)) ?? ("too_many" as const);
  }

  async getUsage(tenant: string): Promise<C.RunUsageAnswer | null> {
    return this.owns(tenant) ? { ...this.meter.usage, llm: llmUsage(this.state) } : null;
  }

  async listEvents(tenant: string, after: number, limit: number) {
    return this.owns(tenant) ? { events: this.log.after(after, limit), last_seq: this.state.last_seq } : null;
  }

  /** `take`: how many of the messages the reports call for the consumer runs itself (see domain/continuation.ts). */
  async report(reports: StepReport[], take = 0): Promise<ReportAnswer> {
    if (this.state.last_seq === 0) return { results: reports.map(() => ({ accepted: false, reason: "run_not_found" })), next: [] };
    this.tracing?.adopt(reports);
    const next: StepMessage[] = [];
    const results = await this.command((m) => report(m, reports), "report", true, { n: take, granted: next });
    results.forEach((r, i) => {
      const { step, dispatch } = reports[i]!;
      if (!r.accepted) log.warn("step.report_ignored", { run_id: this.state.run_id, step, dispatch, reason: r.reason, trace_id: this.state.trace_id });
    });
    return { results, next };
  }

  /**
   * A cancelled run or a superseded dispatch answers no, and so does a second delivery of a
   * dispatch already let through here. Writes only for a model call (llm.call_began, see
   * domain/agent/deltas.ts) and for a dispatch a cancel stops.
   */
  async preflight(step: number, dispatch: number): Promise<PreflightResult> {
    this.meter.request();
    return this.letThrough(step, dispatch);
  }

  /**
   * A message that reached its consumer with less than its timeout left of its lease (it waited
   * behind a backlog): its lease is renewed from now (domain/decide.ts, renewLease), then it passes
   * the pre-flight check, so a duplicate or a cancelled run does nothing and a model call is
   * recorded as begun. One request, where the message used to be refused: a lease_expired report,
   * then a retry sent to the back of the backlog that made it late.
   */
  async renewLease(step: number, dispatch: number, timeoutMs: number): Promise<PreflightResult> {
    this.meter.request();
    // The lease first: an attempt past its lease is the watchdog's, and is not recorded as begun.
    if (this.state.last_seq > 0 && !this.begun.has(dispatch) && preflight(this.state, step, dispatch).go) {
      const lease_until = await this.command((m) => renewLease(m, step, dispatch, timeoutMs), "renewLease", false);
      if (lease_until === null) return { go: false, reason: "stale_dispatch" };
      const go = await this.letThrough(step, dispatch);
      return go.go ? { go: true, lease_until } : go;
    }
    return this.letThrough(step, dispatch);
  }

  /** The pre-flight check itself, for a request already counted. */
  private async letThrough(step: number, dispatch: number): Promise<PreflightResult> {
    if (this.state.last_seq === 0) return { go: false, reason: "run_not_found" };
    const answer = preflight(this.state, step, dispatch);
    // Being cancelled with compensation: this dispatch never runs, so the run need not wait for
    // its lease; it is recorded as skipped now (the only pre-flight answer that writes). No request
    // of its own: the pre-flight (or renewal) that asked is already counted.
    if (!answer.go && answer.reason === "cancelling") await this.command((m) => skipCancelled(m, step, dispatch), "skipCancelled", false);
    if (!answer.go) return answer;
    if (this.begun.has(dispatch)) return { go: false, reason: "already_started" };
    // A model call is recorded as begun in the log, not only here: a delivery after a restart
    // must not make a call the provider may already be answering (it has no idempotency key).
    const found = findWork(this.state, step, dispatch);
    if ("work" in found && found.work.kind === "model") {
      if (!(await this.command((m) => beginModelCall(m, step, dispatch), "preflight", false))) return { go: false, reason: "already_started" };
    }
    this.begun.add(dispatch);
    return answer;
  }

  /** Text, because RPC's types cannot follow a recursive JSON type this deep. */
  async stepInput(step: number, dispatch: number): Promise<string | null> {
    this.meter.request();
    const found = findWork(this.state, step, dispatch);
    return "work" in found ? JSON.stringify(attemptInput(this.state, found.work) ?? null) : null;
  }

  /** Text an agent's model call is writing, streamed by its consumer: one llm.delta while the call runs. */
  async llmDelta(step: number, dispatch: number, text: string): Promise<void> {
    this.meter.request();
    await this.command((m) => recordDelta(m, step, dispatch, text), "llmDelta");
  }

  /** A command on the whole run, answered with the run as it now stands. */
  private async control(tenant: string, decide: (m: Machine) => ControlResult, name: string): Promise<C.ControlAnswer> {
    if (!this.owns(tenant)) return NOT_FOUND;
    return { ...(await this.command(decide, name)), run: this.view() };
  }

  /** A decision's answer: the step as it now stands. */
  private stepAnswer<R extends { ok: boolean }>(result: R, step: number) {
    return result.ok ? { ok: true as const, step: this.view().execution_log.find((s) => s.step_number === step)! } : (result as Exclude<R, { ok: true }>);
  }

  async cancel(tenant: string, options: { compensate?: boolean; reason?: string } = {}): Promise<C.ControlAnswer> {
    return this.control(tenant, (m) => cancel(m, options.reason ?? "Cancelled by request.", options.compensate ?? false), "cancel");
  }

  async decide(tenant: string, step: number, decision: Decision): Promise<C.DecisionAnswer> {
    if (!this.owns(tenant)) return NOT_FOUND;
    return this.stepAnswer(await this.command((m) => decideApproval(m, step, decision), "decide"), step);
  }

  async issueDecisionLinks(tenant: string, step: number) {
    return this.owns(tenant) ? this.decisionLinks.issue(this.state, step, this.clock()) : NOT_FOUND;
  }

  async lookupDecisionLink(token: string) {
    return this.decisionLinks.find(this.state, await linkHash(token), this.clock());
  }

  /** The check, the decision and spending the pair happen in one turn, so a link counts once. */
  async decideByLink(token: string, comment: string | null): Promise<C.LinkDecisionAnswer> {
    const found = this.decisionLinks.find(this.state, await linkHash(token), this.clock());
    if (!found.ok) return found;
    const { step, decision, pair } = found.link;
    const result = await this.command((m) => {
      const r = decideApproval(m, step, { decision, comment, by: "link" });
      if (r.ok) this.decisionLinks.spend(pair, m.now);
      return r;
    }, "decide");
    return this.stepAnswer(result, step);
  }

  async signal(tenant: string, name: string, payload: unknown) {
    return this.owns(tenant) ? this.command((m) => signal(m, name, payload), "signal") : NOT_FOUND;
  }

  async pause(tenant: string, reason = "Paused by request."): Promise<C.ControlAnswer> {
    return this.control(tenant, (m) => pause(m, reason), "pause");
  }

  /** A resumed failed or cancelled run is in flight again, so it takes a slot first (a paused one still holds its slot). */
  async resume(tenant: string, cap: number): Promise<C.ControlAnswer> {
    if (!this.owns(tenant)) return NOT_FOUND;
    let shard = 0;
    if ((this.state.status === "failed" || this.state.status === "cancelled") && this.state.parent === null) {
      const slot = await takeSlot(this.env, this.meter, this.state.run_id, tenant, cap, this.clock());
      if (!slot.ok) return { ok: false, code: "at_capacity", in_flight: slot.in_flight, cap: slot.cap };
      shard = slot.shard;
    }
    return this.control(tenant, (m) => resume(m, shard), "resume");
  }

  async defer(step: number, dispatch: number, retryAt: number, error: StepError): Promise<ReportResult> {
    if (this.state.last_seq === 0) return { accepted: false, reason: "run_not_found" };
    return this.command((m) => defer(m, step, dispatch, retryAt, error), "defer");
  }

  async breakerChanged(tool: string, state: "half_open" | "closed"): Promise<void> {
    if (this.state.last_seq > 0) await this.command((m) => breakerChanged(m, tool, state), "breakerChanged");
  }

  async childEnded(notice: ChildNotice): Promise<{ acknowledged: boolean }> {
    if (!this.owns(notice.tenant)) return { acknowledged: false };
    const known = this.state.children.some((c) => c.run_id === notice.run_id) || (await childRunId(this.state, notice.step, notice.call)) === notice.run_id;
    if (!known) return { acknowledged: false };
    await this.command((m) => childEnded(m, notice), "childEnded");
    return { acknowledged: true };
  }

  async webhooksRecorded(tenant: string, seqs: number[]): Promise<void> {
    if (!this.owns(tenant)) return;
    this.meter.request();
    this.webhooks.recorded(seqs);
    this.armAlarm();
  }

  /** `fetch` only upgrades WebSockets: GET /ws?after=SEQ subscribes to the run's events (storage/subscriptions.ts). */
  override async fetch(request: Request): Promise<Response> {
    const access = {
      owns: (tenant: string) => this.owns(tenant),
      validToken: async (token: string) => this.state.last_seq > 0 && (await this.watchTokens.valid(token, this.state.tenant)),
    };
    return upgrade(request, this.ctx, this.log, access, { last_seq: this.state.last_seq, ended: this.ended });
  }

  /** Subscribers only listen; anything they send besides the heartbeat is ignored. */
  override async webSocketMessage(): Promise<void> {}

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    closed(ws, code, reason);
  }

  /**
   * The run's retention has passed: its storage is deleted, and the object is as new, so every
   * request for the run answers "not found". An Idempotency-Key is remembered as long as its run:
   * used again after this, it starts a new run (docs/architecture.md, "Retention").
   */
  private async forget(): Promise<void> {
    const { run_id, tenant } = this.state;
    await deleteRunStorage(this.ctx.storage);
    for (const ws of this.ctx.getWebSockets()) ws.close(1000, "run deleted");
    this.meter = new UsageMeter();
    this.open(new Set());
    this.state = emptyState();
    this.cachedView = undefined;
    this.projector.reset();
    this.alarmSlot.none();
    this.begun.clear();
    log.info("run.deleted", { run_id, tenant });
  }

  async nudge(): Promise<void> {
    if (this.state.last_seq > 0) await this.command((m) => fireDue(m), "nudge");
  }

  /** The watchdog: expired leases, due retries, finished timers, the run's deadline, and every effect that is due. */
  override async alarm(): Promise<void> {
    this.alarmSlot.fired();
    if (this.state.last_seq === 0) return;
    try {
      await this.watch();
      this.alarmFailures.succeeded();
    } catch (err) {
      // One throw would spend the runtime's alarm retries and leave the run with no watchdog
      // until a request woke it: the alarm is re-armed with backoff instead.
      const delay = this.alarmFailures.failed(this.clock());
      log.error("run.alarm_failed", { run_id: this.state.run_id, retry_in_ms: delay, ...errorFields(err) });
      this.alarmSlot.arm([this.alarmFailures.retryAt]);
    }
  }

  /** The watchdog's work: whatever is due, in the order a failure would least hurt. */
  private async watch(): Promise<void> {
    if (this.webhooks.due) await this.webhooks.handOff(this.state);
    if (this.family.owesNow(this.clock())) await this.family.settle();
    if ((expiresAt(this.state) ?? Infinity) <= this.clock()) return this.forget();
    if (this.ended && this.projector.behind) {
      // Only the projection is due: no command, no events.
      this.meter.request();
      await this.projector.now(this.state);
      this.armAlarm();
      return;
    }
    // A resend is due: is its message lost, or only waiting its turn in a backlog? (executors/queue.ts)
    const oldest = resendDue(this.state, this.clock()) ? await stepQueueOldest(stepQueueFor(this.env, this.state.run_id), this.state.run_id) : undefined;
    const queue = oldest === undefined ? undefined : { oldest, received: (dispatch: number) => this.begun.has(dispatch) };
    await this.command((m) => fireDue(queue ? { ...m, queue } : m), "alarm");
  }
}
