// ToolBreaker: one per tenant and tool (BREAKERS.getByName(breakerName(tenant, tool))). Its one
// alarm serves what is due: the end of an open breaker's cooldown; the next batch of waiting runs
// to tell of a close (WAKE_BATCH at a time, the settings' wake_interval_ms apart) or of a half-open
// (as many as there are free probes); the expiry of a half-open probe whose consumer never
// reported; and a failed write of its state to D1 (breaker_states, which GET /metrics reads
// instead of asking each breaker). Runs whose steps it turned away are remembered durably
// (waiting-list.ts) and told once per transition; a crash between telling a batch and crossing it
// off tells that batch again, which a run takes as a no-op (its step no longer waits).
import { DurableObject } from "cloudflare:workers";
import { guardAlarm } from "../alarm-guard";
import { errorFields, log } from "../../lib/log";
import { UsageMeter } from "../run/storage/usage-meter";
import { breakerSettings, type BreakerSettings } from "./breaker-config";
import { breakerRow, breakerStatesDb, publishBreakerState } from "./breaker-record";
import {
  admit,
  close,
  cooldownOver,
  expireProbe,
  initialBreaker,
  probeExpiresAt,
  record,
  versionOf,
  type Admission,
  type BreakerState,
  type Transition,
  type Verdict,
  type WakePass,
} from "./breaker-state";
import { WaitingList, type Waiter } from "./waiting-list";

/**
 * The breaker object of one tenant's calls to one tool. Each tenant has its own, so one tenant's
 * failing calls (say, Http.get to its own broken upstream) never turn other tenants' steps away,
 * and a tenant's reset touches only its own breakers.
 */
export const breakerName = (tenant: string, tool: string) => `${tenant}/${tool}`;

export interface BreakerStatus {
  tool: string;
  state: BreakerState["state"];
  consecutive_failures: number;
  window_calls: number;
  window_failures: number;
  cooldown_ms: number;
  opened_at: string | null;
  next_transition_at: string | null;
  trips: number;
  requests: number;
  rows_written: number;
  waiting_runs: number;
  settings: BreakerSettings;
}

/**
 * Runs told of a close per alarm. Each run told is one request from this alarm to its run object
 * (sent together) and then a step back through the queue, so a batch is also a burst of steps for
 * the tool that just recovered. 100 keeps an alarm's requests far under an invocation's limits, and
 * with the settings' wake_interval_ms (200 ms) between batches lets at most 500 runs a second
 * back: half of one object's soft limit of 1,000 requests a second, the other half left to steps
 * that never waited. 10,000 waiting runs (MAX_WAITERS) are all told within 20 s.
 */
export const WAKE_BATCH = 100;
/**
 * Half-open lets only its probes through, so it tells only as many runs as there are free probes
 * and waits this long for one to come back and take one (a queue hop and a consumer take well under
 * it) before it tells the next: a run told may no longer need the tool (cancelled, ended).
 */
export const PROBE_WAIT_MS = 10_000;
/**
 * A remembered run is told by the breaker; its own retry time is only a backstop (a notice that
 * failed three times), so it comes this long after the breaker would have told it, plus up to a
 * fifth more, so that backstops never fire together.
 */
export const BACKSTOP_MS = 5 * 60_000;
/** A write to breaker_states that failed is tried again this much later, by the alarm. */
const PUBLISH_RETRY_MS = 10_000;

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export class ToolBreaker extends DurableObject<Env> {
  private readonly tenant: string;
  private tool = "";
  private state: BreakerState;
  private readonly waiting: WaitingList;
  /** A batch of notices is out (its requests awaited): a second alarm must not send the same. */
  private waking = false;
  /** A write to breaker_states is under way (see served). */
  private publishing = false;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const sql = ctx.storage.sql;
    sql.exec(`CREATE TABLE IF NOT EXISTS breaker (id INTEGER PRIMARY KEY CHECK (id = 1), tool TEXT NOT NULL, state TEXT NOT NULL)`);
    const row = sql.exec<{ tool: string; state: string }>(`SELECT tool, state FROM breaker WHERE id = 1`).toArray()[0];
    // The object's name is `tenant/tool`, and a tenant has no "/" (tenantSchema).
    const name = ctx.id.name ?? "";
    this.tenant = name.includes("/") ? name.slice(0, name.indexOf("/")) : "";
    this.tool = row?.tool ?? "";
    this.state = row ? (JSON.parse(row.state) as BreakerState) : initialBreaker(breakerSettings(env.BREAKER_CONFIG, ""));
    this.meter = UsageMeter.restore({ do_requests: this.state.requests ?? 0, storage_rows_written: this.state.rows_written ?? 0 });
    this.waiting = new WaitingList(sql, this.meter);
  }

  /**
   * The breaker's own billable operations, counted the way a run counts its own: requests served
   * (every RPC) and the rows each statement reports it wrote. They are saved inside the state row,
   * so the saved figure trails by the write that saves it; GET /breakers reads the live one.
   */
  private readonly meter: UsageMeter;

  private settings(): BreakerSettings {
    return breakerSettings(this.env.BREAKER_CONFIG, this.tool);
  }

  private bind(tool: string): void {
    if (this.tool) return;
    this.tool = tool;
    this.state = initialBreaker(this.settings());
  }

  /** Saves the state; on a transition, counts it, logs it, starts or ends the telling of waiting runs and re-arms the alarm. */
  private save(transition: Transition): void {
    this.state.requests = this.meter.usage.do_requests;
    this.state.rows_written = this.meter.usage.storage_rows_written;
    if (transition) {
      // Counted inside the state row this save writes anyway: a transition costs no extra write here.
      const counts = (this.state.transitions ??= { closed: 0, open: 0, half_open: 0 });
      counts[transition.to] += 1;
      // Open: nobody is told (the waiting runs stay remembered for the next transition). Half-open
      // or closed: everyone remembered until now, from the oldest, a batch per alarm.
      const pass = transition.to === "open" ? null : this.newPass(transition.to);
      if (this.state.wake) this.state.last_wake = this.state.wake;
      this.state.wake = pass;
    }
    this.meter.wrote(this.ctx.storage.sql.exec(`INSERT OR REPLACE INTO breaker (id, tool, state) VALUES (1, ?, ?)`, this.tool, JSON.stringify(this.state)));
    if (!transition) return;
    log.info(`breaker.${transition.to === "half_open" ? "half_opened" : transition.to}`, {
      tool: this.tool,
      from: transition.from,
      reason: transition.reason,
      cooldown_ms: this.state.cooldown_ms,
      waiting_runs: this.waiting.count(),
    });
    this.arm();
  }

  /** A pass due at `at`: the caller's own clock reading, so a pass made and checked in one turn is due in it. */
  private newPass(to: WakePass["to"], at = Date.now()): WakePass {
    return { to, upto: this.waiting.last(), next_at: at, batches: 0, woken: 0, largest_batch: 0 };
  }

  private unpublished(): boolean {
    return versionOf(this.state) > (this.state.published ?? 0);
  }

  /** The next time the alarm has work, or null. */
  private nextDue(): number | null {
    const s = this.state;
    const due: number[] = [];
    if (s.state === "open" && s.open_until !== null) due.push(s.open_until);
    const probeEnds = probeExpiresAt(s);
    const probesTaken = s.state === "half_open" && s.probes_in_flight >= this.settings().half_open_probes;
    if (s.wake && !(s.wake.to === "half_open" && probesTaken)) due.push(s.wake.next_at);
    // A probe is out: if it never reports, a waiting run must be told to take the next one.
    else if (probeEnds !== null && (s.wake || this.waiting.count() > 0)) due.push(probeEnds);
    // Only a write that failed is the alarm's (a transition writes its own row just after this):
    // an alarm set for "now" while open would end the cooldown at once (endCooldown).
    if (this.unpublished() && s.publish_retry_at) due.push(s.publish_retry_at);
    return due.length > 0 ? Math.min(...due) : null;
  }

  private arm(): void {
    const due = this.nextDue();
    void (due === null ? this.ctx.storage.deleteAlarm() : this.ctx.storage.setAlarm(due));
  }

  /**
   * Writes the state to breaker_states if it changed since the last write that landed. A failure
   * is tried again by the alarm; the breaker itself goes on (the table is for metrics only).
   */
  private async publish(): Promise<void> {
    if (!this.unpublished()) return;
    this.publishing = true;
    try {
      await this.publishNow();
    } finally {
      this.publishing = false;
    }
  }

  private async publishNow(): Promise<void> {
    if (!this.tenant) return log.warn("breaker.publish_skipped", { tool: this.tool, reason: "the object has no tenant/tool name" });
    const row = breakerRow(this.tenant, this.tool, this.state, Date.now());
    try {
      await publishBreakerState(breakerStatesDb(this.env), row);
      // Saved (one row, once per transition), or a restarted object would write the row again.
      this.state.published = Math.max(this.state.published ?? 0, row.version);
      if (!this.unpublished()) this.state.publish_retry_at = null;
      this.save(null);
    } catch (err) {
      log.warn("breaker.publish_failed", { tool: this.tool, version: row.version, ...errorFields(err) });
      this.state.publish_retry_at = Date.now() + PUBLISH_RETRY_MS;
      this.save(null);
    }
    this.arm();
  }

  /**
   * Counts a request served. A breaker whose transitions were never written to breaker_states (one
   * made before the table, or whose write failed and is not yet due again) writes them now, off
   * the request's path, so GET /metrics is right from its first request on.
   */
  private served(): void {
    this.meter.request();
    if (this.tenant && this.unpublished() && !this.publishing && !this.state.publish_retry_at) this.ctx.waitUntil(this.publish());
  }

  /**
   * Successes a consumer counted since it last asked: they never open a breaker, so consumers
   * hand them over with their next request instead of making one for each.
   */
  private recordSuccesses(n: number): void {
    const settings = this.settings();
    for (let i = 0; i < Math.min(n, 1000); i++) record(this.state, Date.now(), settings, { verdict: "success", probe: false });
  }

  /** May a call go through now? A refused run is remembered and told when the breaker changes. */
  async admit(tool: string, runId?: string, successes = 0): Promise<Admission & { state: BreakerState["state"] }> {
    this.bind(tool);
    this.served();
    this.recordSuccesses(successes);
    const now = Date.now();
    const { admission, transition } = admit(this.state, now, this.settings());
    let answer: Admission = admission;
    // A remembered run is told at the next transition, so it does not come back by itself at the
    // end of the cooldown or every second while half-open: its own retry is a late backstop.
    const remembered = !admission.allowed && runId !== undefined && this.waiting.remember(runId);
    if (remembered) {
      answer = { allowed: false, retry_at: Math.max(admission.retry_at, now) + BACKSTOP_MS + Math.floor(Math.random() * (BACKSTOP_MS / 5)) };
    }
    this.save(transition);
    // Half-open, a probe let through or a run now waiting on one: arm for the probe's expiry, so a
    // probe whose consumer died frees its slot for a waiting run. (Open, the alarm is set already.)
    if (!transition && this.state.state === "half_open" && (remembered || (admission.allowed && admission.probe))) this.arm();
    if (transition) await this.publish();
    return { ...answer, state: this.state.state };
  }

  /** The outcome of an admitted call. Returns the state after it, and the transition if one happened. */
  async record(
    tool: string,
    outcome: { verdict: Verdict; probe: boolean },
    successes = 0,
  ): Promise<{ state: BreakerState["state"]; transition: Transition; cooldown_ms: number }> {
    this.bind(tool);
    this.served();
    this.recordSuccesses(successes);
    const transition = record(this.state, Date.now(), this.settings(), outcome);
    // A success in a healthy closed breaker changes nothing that matters after an eviction (with no
    // failures in the window there is nothing to trip on): keep it in memory and save a row write.
    const healthy = this.state.state === "closed" && this.state.consecutive_failures === 0 && !this.state.window.some(([, failed]) => failed);
    if (!transition && outcome.verdict !== "dependency_failure" && healthy) return { state: this.state.state, transition, cooldown_ms: this.state.cooldown_ms };
    this.save(transition);
    // A probe given back without a verdict frees its slot: the half-open pass may tell the next run.
    if (outcome.probe && !transition) this.arm();
    if (transition) await this.publish();
    return { state: this.state.state, transition, cooldown_ms: this.state.cooldown_ms };
  }

  async reset(tool: string): Promise<BreakerStatus> {
    this.bind(tool);
    this.served();
    const transition = close(this.state, Date.now(), this.settings(), "reset by hand");
    this.save(transition);
    if (transition) await this.publish();
    return this.describe();
  }

  async status(tool: string): Promise<BreakerStatus> {
    this.bind(tool);
    this.served();
    return this.describe();
  }

  private describe(): BreakerStatus {
    const s = this.state;
    const settings = this.settings();
    const recent = s.window.filter(([at]) => at > Date.now() - settings.window_ms);
    return {
      tool: this.tool,
      state: s.state,
      consecutive_failures: s.consecutive_failures,
      window_calls: recent.length,
      window_failures: recent.filter(([, f]) => f).length,
      cooldown_ms: s.cooldown_ms,
      opened_at: iso(s.opened_at),
      next_transition_at: s.state === "open" ? iso(s.open_until) : null,
      trips: s.trips,
      requests: this.meter.usage.do_requests,
      rows_written: this.meter.usage.storage_rows_written,
      waiting_runs: this.waiting.count(),
      settings,
    };
  }

  override async alarm(): Promise<void> {
    // Guarded: a breaker whose half-open failed to save would otherwise stay open until a request
    // came; retried with backoff instead (an early retry half-opens all the same).
    await guardAlarm(this.ctx, "breaker", { tool: this.tool }, async () => {
      this.endCooldown();
      await this.wakeBatch();
      await this.publish();
      this.arm();
    });
  }

  /**
   * Open → half-open. While open the alarm is set for the end of the cooldown, unless a write to
   * D1 is to be tried before it: any other firing (a retry, a test running the alarm) half-opens.
   */
  private endCooldown(): void {
    const s = this.state;
    if (s.state !== "open") return;
    if (this.unpublished() && s.publish_retry_at && s.publish_retry_at < (s.open_until ?? Infinity)) return;
    // On a copy: if the save throws, memory stays as the disk has it, so the retry makes the
    // same transition (and tells the waiting runs) rather than finding it made already.
    const before = this.state;
    this.state = structuredClone(before);
    try {
      this.save(cooldownOver(this.state, Math.max(Date.now(), this.state.open_until ?? 0)));
    } catch (err) {
      this.state = before;
      throw err;
    }
  }

  /** Tells the next batch of waiting runs of the current transition, if one is being told. */
  private async wakeBatch(): Promise<void> {
    const s = this.state;
    const now = Date.now();
    if (s.state === "half_open" && probeExpiresAt(s) !== null && probeExpiresAt(s)! <= now) {
      // The probe never reported: its slot is free again, and the runs waiting are told again
      // (once) so that one of them takes it, as at the half-open itself.
      expireProbe(s, now);
      // Due at `now`, the time this batch is checked against (a later reading would make it wait an interval).
      if (!s.wake) s.wake = this.newPass("half_open", now);
      else s.wake.upto = this.waiting.last();
    }
    const pass = s.wake;
    if (!pass || this.waking) return;
    if (s.state !== pass.to) return this.endPass();
    // Half-open lets only its probes through: as many runs are told as there are free probes, and
    // once they are out the others wait for the next transition.
    const settings = this.settings();
    const size = pass.to === "closed" ? WAKE_BATCH : Math.min(WAKE_BATCH, settings.half_open_probes - s.probes_in_flight);
    if (size <= 0) return;
    // Not before its time, whoever runs the alarm: the interval is what bounds the rate.
    if (pass.next_at > now) return;
    const batch = this.waiting.next(pass.upto, size);
    if (batch.length === 0) return this.endPass();
    this.waking = true;
    let failed: Waiter[];
    try {
      failed = await this.tell(batch, pass.to);
    } finally {
      this.waking = false;
    }
    // A transition while the notices were out started a new pass: everyone stays on the list for
    // that one, these runs included (they were told of a state the breaker has since left).
    if (this.state.wake !== pass) return;
    const givenUp = this.waiting.settle(batch, failed);
    if (givenUp.length > 0) log.warn("breaker.notice_given_up", { tool: this.tool, run_ids: givenUp });
    const told = batch.length - failed.length;
    const wait = pass.to === "half_open" ? Math.max(PROBE_WAIT_MS, settings.wake_interval_ms) : settings.wake_interval_ms;
    Object.assign(pass, {
      batches: pass.batches + 1,
      woken: pass.woken + told,
      largest_batch: Math.max(pass.largest_batch, batch.length),
      next_at: now + wait,
    });
    log.info("breaker.woke", { tool: this.tool, to: pass.to, runs: told, failed: failed.length, batch: pass.batches });
    if (!this.waiting.anyUpTo(pass.upto)) return this.endPass();
    this.save(null);
  }

  private endPass(): void {
    this.state.last_wake = this.state.wake ?? null;
    this.state.wake = null;
    this.save(null);
  }

  /** One request to each run of the batch, at once; answers those that failed. */
  private async tell(batch: Waiter[], to: WakePass["to"]): Promise<Waiter[]> {
    const results = await Promise.allSettled(batch.map((w) => this.env.RUNS.getByName(w.run_id).breakerChanged(this.tool, to)));
    return batch.filter((w, i) => {
      const r = results[i]!;
      if (r.status === "fulfilled") return false;
      log.warn("breaker.notify_failed", { tool: this.tool, run_id: w.run_id, ...errorFields(r.reason) });
      return true;
    });
  }
}
