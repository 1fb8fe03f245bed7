// The run object's host: it rebuilds the run's state from its log on wake, runs commands (decide,
// write the events as one row, arm the alarm in the same synchronous turn, then run the effects the
// events call for: send steps, project to D1, hand off webhooks, create children, give back the
// tenant slot, trace), and arbitrates the one physical alarm: the decider and each effect only say
// when they are next due, and the alarm is the minimum. Every effect is recoverable from the log
// alone: a crash after the write leaves a started step whose lease the alarm acts on, or a
// milestone the alarm projects. RunObject (run-object.ts) puts the RPC API on top of it.
import { DurableObject } from "cloudflare:workers";
import type { StepMessage } from "../../execution/step-protocol";
import { errorFields, log } from "../../lib/log";
import { newSpanId } from "../../lib/trace";
import type * as C from "./contract";
import { LLM_CALL_TOOL } from "../../tools/llm-call/spec";
import { grant } from "./domain/continuation";
import { nextDeadline, type Machine } from "./domain/decide";
import type { RunEvent, RunEventData, RunEventType } from "./domain/events";
import { childDispatches } from "./domain/executors/child";
import { applyEvent } from "./domain/fold";
import { emptyState, TERMINAL_RUN, type RunState } from "./domain/state";
import { AlarmSlot } from "./effects/alarm";
import { Family } from "./effects/family";
import { Projector } from "./effects/projector";
import { RunEndWaiters } from "./effects/run-end-waiters";
import { expiresAt } from "./effects/retention";
import { logEvent } from "./effects/run-log";
import { RunTracing } from "./effects/run-tracing";
import { RunWebhooks } from "./effects/run-webhooks";
import { stepQueueFor } from "./effects/step-queues";
import { sendSteps } from "./effects/step-sender";
import { releaseSlot } from "./effects/tenant-slot";
import { DecisionLinks } from "./storage/decision-links";
import { EventLog, tablesOf } from "./storage/event-log";
import { readBookkeeping, writeBookkeeping } from "./storage/bookkeeping";
import { PING, PONG, broadcast } from "./storage/subscriptions";
import { UsageMeter } from "./storage/usage-meter";
import { WatchTokens } from "./storage/watch-tokens";
import { runView } from "./run-view";

/** How long a projection under way gets before the watchdog would write it instead. */
const PROJECTION_IN_FLIGHT_MS = 5_000;

export abstract class RunHost extends DurableObject<Env> {
  protected log!: EventLog;
  protected watchTokens!: WatchTokens;
  protected decisionLinks!: DecisionLinks;
  protected webhooks!: RunWebhooks;
  protected meter = new UsageMeter();
  protected state: RunState = emptyState();
  protected cachedView: C.RunResource | undefined;
  protected readonly projector = new Projector(
    this.env,
    () => this.clock(),
    () => this.meter,
    (mark) => writeBookkeeping(this.log, mark, this.meter.usage),
  );
  protected readonly family = new Family({
    env: this.env,
    state: () => this.state,
    clock: () => this.clock(),
    counted: () => this.meter.request(),
    record: (decide, name) => this.command(decide, name, false),
    armAlarm: () => this.armAlarm(),
  });
  protected readonly alarmSlot = new AlarmSlot(this.ctx.storage);
  /** The current command's events, sent to live subscribers once it has written them. */
  protected emitted: RunEvent[] = [];
  /** A span per command, in the run's trace: the log lines of one decision share it. */
  protected span = "";
  /** Callers of ?wait waiting for the run to end. */
  protected readonly enders = new RunEndWaiters();
  /** Creates run one at a time: a create awaits the tenant's slot before it writes anything. */
  protected creating: Promise<unknown> = Promise.resolve();
  /** Dispatches a pre-flight check let through, in memory: a duplicate delivery finds its twin here. */
  protected readonly begun = new Set<number>();
  /** Injectable for tests (set through runInDurableObject): every deadline and event time uses it. */
  clock: () => number = Date.now;
  /** Injectable for tests: the jitter of retry delays. */
  random: () => number = Math.random;
  /** Spans of commands and of the run, when OTEL_EXPORTER_OTLP_ENDPOINT is set (null: none are made). */
  protected readonly tracing = RunTracing.for(this.env);

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    // SQLite calls are synchronous, so the state is rebuilt before any request is delivered.
    this.open(tablesOf(ctx.storage.sql));
    for (const event of this.log.all()) this.fold(event);
    const kept = readBookkeeping(this.log);
    this.projector.restore(kept.projection);
    if (kept.usage) this.meter = UsageMeter.restore(kept.usage);
    // Heartbeats are answered by the runtime without waking the object.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING, PONG));
    if (this.log.empty) this.alarmSlot.none();
    else
      void ctx.blockConcurrencyWhile(async () => {
        // Self-healing on wake: work that is due with no alarm gets a fresh one.
        await this.alarmSlot.load(this.clock());
        if (this.state.last_seq > 0) this.armAlarm();
      });
  }

  /** The object's tables: as found on wake, or none after its storage was deleted. */
  protected open(tables: Set<string>): void {
    const sql = this.ctx.storage.sql;
    this.log = new EventLog(
      sql,
      tables,
      (c) => this.meter.wrote(c),
      (write) => this.ctx.storage.transactionSync(write),
    );
    this.watchTokens = new WatchTokens(sql, tables);
    this.decisionLinks = new DecisionLinks(sql, tables);
    this.webhooks = new RunWebhooks(sql, tables, this.env, () => this.clock(), { sent: () => this.meter.sent(), wrote: (c) => this.meter.wrote(c) });
  }

  /** The run resource, built once per change: clients poll GET /runs/{id}, and between two events every answer is the same. */
  protected view(): C.RunResource {
    return (this.cachedView ??= runView(this.state));
  }

  protected fold(event: RunEvent): void {
    this.cachedView = undefined;
    const before = this.state.status;
    applyEvent(this.state, event);
    this.projector.noticed(event, before, this.state.status);
  }

  protected append<T extends RunEventType>(type: T, data: RunEventData[T]): number {
    const event = this.log.append(this.state.last_seq + 1, type, data, new Date(this.clock()).toISOString());
    this.fold(event);
    this.emitted.push(event);
    logEvent(this.state, event, this.span);
    return event.seq;
  }

  protected get ended(): boolean {
    return this.state.last_seq > 0 && TERMINAL_RUN.has(this.state.status);
  }

  protected owns(tenant: string): boolean {
    return this.state.last_seq > 0 && this.state.tenant !== "" && this.state.tenant === tenant;
  }

  /**
   * Runs one decision against the state, writes its events, then runs the effects they call for.
   * `name` names its span. `request`: false for a command the object runs itself after a call it
   * made (recording a child's creation, its parent's acknowledgement), which is no request of its own.
   * `take`: the caller (a consumer reporting) takes up to `take.n` of the messages the decision
   * calls for in its reply (domain/continuation.ts); they land in `take.granted`, not in the queue.
   */
  protected async command<R>(decide: (m: Machine) => R, name = "command", request = true, take?: { n: number; granted: StepMessage[] }): Promise<R> {
    const sends: StepMessage[] = [];
    const started = this.clock();
    const wasEnded = this.ended;
    const statusBefore = this.state.status;
    if (request) this.meter.request();
    this.span = newSpanId();
    this.emitted = [];
    let result: R;
    try {
      const machine: Machine = {
        state: this.state,
        now: this.clock(),
        clock: this.clock,
        random: this.random,
        emit: (type, data) => this.append(type, data),
        send: (message) => sends.push(this.tracing ? this.tracing.stamp(message, this.span) : message),
      };
      result = decide(machine);
      if (take && take.n > 0 && sends.length > 0) {
        for (const message of grant(machine, sends, take.n)) {
          // Let through its pre-flight now: a duplicate of it asking later is already_started.
          this.begun.add(message.dispatch);
          take.granted.push(message);
        }
      }
      // A model call streams its text into the log only if someone can watch it: a client is
      // connected now, or the run is being created (its client connects as the POST answers).
      // Sockets are looked up only for a command that sends a model call, not on every command.
      const lists = [sends, take?.granted ?? []];
      if (name !== "create" && lists.some((l) => l.some((msg) => msg.tool === LLM_CALL_TOOL)) && this.ctx.getWebSockets().length === 0) {
        for (const list of lists) for (let i = 0; i < list.length; i++) if (list[i]!.tool === LLM_CALL_TOOL) list[i] = { ...list[i]!, unwatched: true };
      }
      // A command's rows commit together or not at all (the log wraps several rows in one transaction).
      this.log.flush();
    } catch (err) {
      // Events were folded into memory that may not be on disk: serving that state, re-throwing the
      // same staged rows on every later command, with no alarm re-armed, would strand the run. The
      // object is reset instead, and the next request rebuilds it from the log.
      if (this.emitted.length > 0) {
        log.error("command.write_failed", { run_id: this.state.run_id, command: name, events: this.emitted.length, ...errorFields(err) });
        this.ctx.abort(`the ${name} command failed after emitting events`);
      }
      throw err;
    }
    const events = this.emitted;
    this.emitted = [];
    this.webhooks.notice(this.state, statusBefore, events);
    broadcast(this.ctx, events);
    // Armed before any await, so the alarm commits atomically with the events that need it: a
    // crash after this point leaves deadlines the watchdog will act on, never a stranded step.
    this.armAlarm(PROJECTION_IN_FLIGHT_MS);
    const endedNow = !wasEnded && this.ended;
    if (endedNow) this.enders.wakeAll();
    this.projector.inBackground(this.ctx, this.state, () => this.armAlarm());
    this.webhooks.handOffInBackground(this.ctx, this.state, () => this.armAlarm());
    // The messages go out after the answer: the events that call for them are durable, and a
    // message that never arrives is a lease the watchdog takes back.
    if (sends.length) {
      this.meter.queued(sends.length);
      this.ctx.waitUntil(sendSteps(stepQueueFor(this.env, this.state.run_id), this.state.run_id, sends));
    }
    const births = childDispatches(events);
    if (births.length) this.ctx.waitUntil(this.family.startChildren(births));
    if (this.family.owesNow(this.clock())) this.ctx.waitUntil(this.family.settle());
    if (endedNow) await releaseSlot(this.env, this.meter, this.state);
    this.tracing?.command(name, this.span, started, this.clock(), this.state, events);
    return result;
  }

  /** One alarm serves every deadline: the decider's, and each effect's. */
  protected armAlarm(projectionGraceMs = 0): void {
    const now = this.clock();
    const projection = this.projector.nextDue(now, projectionGraceMs);
    const due = [
      nextDeadline(this.state, now),
      projection,
      this.webhooks.nextDue(now, projectionGraceMs),
      // An ended run's retention: armed in the turn it ends, so every ended run is deleted in time.
      expiresAt(this.state),
      this.family.nextDue(now),
    ];
    // A projection being written re-arms the alarm when it lands, so an alarm already set sooner
    // (a run that ended before its creation row was due) guards that write as well as a new one
    // would: an alarm write saved per run (docs/architecture.md, "Where a run's CPU goes").
    const guarded = projectionGraceMs > 0 && this.projector.writing(now) && due.every((t) => t === null || t >= projection!);
    this.alarmSlot.arm(due, guarded ? now : undefined);
  }
}
