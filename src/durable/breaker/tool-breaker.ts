// ToolBreaker: one per tenant and tool (BREAKERS.getByName(breakerName(tenant, tool))). Its alarm ends the cooldown, so an open
// breaker half-opens on time even after eviction or a restart. Runs whose steps it turned away
// are remembered and told when it half-opens or closes, so they retry at once instead of polling.
import { DurableObject } from "cloudflare:workers";
import { guardAlarm } from "../alarm-guard";
import { errorFields, log } from "../../lib/log";
import { UsageMeter } from "../run/storage/usage-meter";
import { breakerSettings, type BreakerSettings } from "./breaker-config";
import { admit, close, cooldownOver, initialBreaker, record, type Admission, type BreakerState, type Transition, type Verdict } from "./breaker-state";

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

export interface BreakerMetrics {
  state: BreakerState["state"];
  transitions: Record<BreakerState["state"], number>;
}

const MAX_WAITERS = 10_000;
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export class ToolBreaker extends DurableObject<Env> {
  private tool = "";
  private state: BreakerState;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const sql = ctx.storage.sql;
    sql.exec(`CREATE TABLE IF NOT EXISTS breaker (id INTEGER PRIMARY KEY CHECK (id = 1), tool TEXT NOT NULL, state TEXT NOT NULL)`);
    sql.exec(`CREATE TABLE IF NOT EXISTS waiters (run_id TEXT PRIMARY KEY)`);
    const row = sql.exec<{ tool: string; state: string }>(`SELECT tool, state FROM breaker WHERE id = 1`).toArray()[0];
    this.tool = row?.tool ?? "";
    this.state = row ? (JSON.parse(row.state) as BreakerState) : initialBreaker(breakerSettings(env.BREAKER_CONFIG, ""));
    this.meter = UsageMeter.restore({ do_requests: this.state.requests ?? 0, storage_rows_written: this.state.rows_written ?? 0 });
  }

  /**
   * The breaker's own billable operations, counted the way a run counts its own: requests served
   * and the rows each statement reports it wrote. They are saved inside the state row, so the
   * saved figure trails by the write that saves it; GET /breakers reads the live one.
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

  /** Saves the state; on a transition, logs it, re-arms the alarm and tells the waiting runs. */
  private save(transition: Transition): void {
    this.state.requests = this.meter.usage.do_requests;
    this.state.rows_written = this.meter.usage.storage_rows_written;
    if (transition) {
      // Counted inside the state row this save writes anyway: a transition costs no extra write.
      const counts = (this.state.transitions ??= { closed: 0, open: 0, half_open: 0 });
      counts[transition.to] += 1;
    }
    this.meter.wrote(this.ctx.storage.sql.exec(`INSERT OR REPLACE INTO breaker (id, tool, state) VALUES (1, ?, ?)`, this.tool, JSON.stringify(this.state)));
    if (!transition) return;
    log.info(`breaker.${transition.to === "half_open" ? "half_opened" : transition.to}`, {
      tool: this.tool,
      from: transition.from,
      reason: transition.reason,
      cooldown_ms: this.state.cooldown_ms,
    });
    if (this.state.state === "open" && this.state.open_until !== null) void this.ctx.storage.setAlarm(this.state.open_until);
    else void this.ctx.storage.deleteAlarm();
    if (transition.to !== "open") this.ctx.waitUntil(this.notifyWaiters(transition.to));
  }

  private async notifyWaiters(state: "half_open" | "closed"): Promise<void> {
    const sql = this.ctx.storage.sql;
    const waiters = sql.exec<{ run_id: string }>(`SELECT run_id FROM waiters`).toArray();
    // Closed: everyone may go. Half-open: everyone is told; the probe slots decide who gets through.
    if (state === "closed") this.meter.wrote(sql.exec(`DELETE FROM waiters`));
    await Promise.all(
      waiters.map(async ({ run_id }) => {
        try {
          await this.env.RUNS.getByName(run_id).breakerChanged(this.tool, state);
        } catch (err) {
          log.warn("breaker.notify_failed", { tool: this.tool, run_id, ...errorFields(err) });
        }
      }),
    );
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
    this.meter.request();
    this.recordSuccesses(successes);
    const { admission, transition } = admit(this.state, Date.now(), this.settings());
    if (!admission.allowed && runId) {
      const count = this.ctx.storage.sql.exec<{ n: number }>(`SELECT count(*) AS n FROM waiters`).one().n;
      if (count < MAX_WAITERS) this.meter.wrote(this.ctx.storage.sql.exec(`INSERT OR IGNORE INTO waiters (run_id) VALUES (?)`, runId));
    }
    this.save(transition);
    return { ...admission, state: this.state.state };
  }

  /** The outcome of an admitted call. Returns the state after it, and the transition if one happened. */
  async record(
    tool: string,
    outcome: { verdict: Verdict; probe: boolean },
    successes = 0,
  ): Promise<{ state: BreakerState["state"]; transition: Transition; cooldown_ms: number }> {
    this.bind(tool);
    this.meter.request();
    this.recordSuccesses(successes);
    const transition = record(this.state, Date.now(), this.settings(), outcome);
    // A success in a healthy closed breaker changes nothing that matters after an eviction (with no
    // failures in the window there is nothing to trip on): keep it in memory and save a row write.
    const healthy = this.state.state === "closed" && this.state.consecutive_failures === 0 && !this.state.window.some(([, failed]) => failed);
    if (!transition && outcome.verdict !== "dependency_failure" && healthy) return { state: this.state.state, transition, cooldown_ms: this.state.cooldown_ms };
    this.save(transition);
    return { state: this.state.state, transition, cooldown_ms: this.state.cooldown_ms };
  }

  async reset(tool: string): Promise<BreakerStatus> {
    this.bind(tool);
    this.save(close(this.state, Date.now(), this.settings(), "reset by hand"));
    return this.status(tool);
  }

  async status(tool: string): Promise<BreakerStatus> {
    this.bind(tool);
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
      waiting_runs: this.ctx.storage.sql.exec<{ n: number }>(`SELECT count(*) AS n FROM waiters`).one().n,
      settings,
    };
  }

  /** What GET /metrics shows of this breaker: its state and its transitions so far, by the state entered. */
  async metrics(tool: string): Promise<BreakerMetrics> {
    this.bind(tool);
    return { state: this.state.state, transitions: { closed: 0, open: 0, half_open: 0, ...this.state.transitions } };
  }

  /** The cooldown is over: half-open. The alarm is only ever set for the end of the cooldown. */
  override async alarm(): Promise<void> {
    // Guarded: a breaker whose half-open failed to save would otherwise stay open until a request
    // came; retried with backoff instead (an early retry half-opens all the same).
    await guardAlarm(this.ctx, "breaker", { tool: this.tool }, async () => {
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
    });
  }
}
