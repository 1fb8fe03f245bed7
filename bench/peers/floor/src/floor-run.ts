/**
 * FloorRun: one SQLite-backed Durable Object per run, doing only what a durable run cannot skip.
 * create() is the run's one request: it appends the run's events (one row each) and runs the
 * whole run before answering: a calc step computed in place, a DAG's fetches in parallel and its
 * join. Only the D1 read-model row is written after the answer. No queue, no leases, no retries
 * (the benchmark's upstream does not fail): a lower bound, not a peer. A DAG is not left running
 * after the answer because an object no request reaches can be evicted with its fetches in flight
 * (seen under `wrangler dev` with 1000 DAGs at once), and then the run would never end.
 */
import { DurableObject } from "cloudflare:workers";
import { evaluateExpression } from "../../../../src/tools/calculator/parser";
import type { RunUsage } from "../../../../src/durable/run/storage/usage-meter";

export interface FloorEnv {
  RUNS: DurableObjectNamespace<FloorRun>;
  DB: D1Database;
}

export type Workload = { workload: "calc" } | { workload: "dag"; urls: string[] };
export type FloorStatus = "running" | "completed" | "failed";

/** Counted as Crane's run object counts them (the same counters), so the benchmark prices both the same way. */
export type FloorUsage = RunUsage;

const STATUS_AFTER: Record<string, FloorStatus> = { "run.created": "running", "run.completed": "completed", "run.failed": "failed" };

export class FloorRun extends DurableObject<FloorEnv> {
  private seq: number;
  private status: FloorStatus | null;
  private usage: FloorUsage = {
    do_requests: 0,
    storage_rows_written: 0,
    queue_messages: 0,
    read_model_rows: 0,
    queued_attempts: 0,
    d1_statements: 0,
    d1_rows_written: 0,
    shared_requests: {},
  };
  /** The read-model write in flight, so usage() can report its rows once it lands. */
  private readModel: Promise<void> = Promise.resolve();

  constructor(ctx: DurableObjectState, env: FloorEnv) {
    super(ctx, env);
    const sql = ctx.storage.sql;
    sql.exec("CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, type TEXT NOT NULL, at TEXT NOT NULL, data TEXT NOT NULL)");
    const types = sql.exec<{ type: string }>("SELECT type FROM events ORDER BY seq").toArray();
    this.seq = types.length;
    this.status = types.reduce<FloorStatus | null>((s, e) => STATUS_AFTER[e.type] ?? s, null);
  }

  async create(runId: string, w: Workload): Promise<{ run_id: string; status: FloorStatus }> {
    if (this.status) return { run_id: runId, status: this.status }; // a replay changes nothing
    this.usage.do_requests += 1;
    const createdAt = new Date().toISOString();
    this.append("run.created", { run_id: runId, workload: w.workload });
    if (w.workload === "calc") {
      this.append("plan.accepted", { steps: [{ step: 1, tool: "Calculator.evaluate", input: { expression: "2 + 3" } }] });
      const output = this.calculate(1, "2 + 3");
      this.finish(runId, "calc", createdAt, output, 1);
    } else {
      const join = w.urls.length + 1;
      this.append("plan.accepted", {
        steps: [
          ...w.urls.map((url, i) => ({ step: i + 1, tool: "Http.get", input: { url } })),
          { step: join, tool: "Calculator.evaluate", depends_on: w.urls.map((_, i) => i + 1) },
        ],
      });
      const ok = await Promise.all(w.urls.map((url, i) => this.fetchStep(i + 1, url)));
      const output = ok.every(Boolean) ? this.calculate(join, w.urls.map(() => "1").join(" + ")) : null;
      this.finish(runId, "dag", createdAt, output, join);
    }
    return { run_id: runId, status: this.status ?? "running" };
  }

  async getStatus(): Promise<FloorStatus | null> {
    return this.status;
  }

  async getUsage(): Promise<FloorUsage> {
    await this.readModel;
    return this.usage;
  }

  private append(type: string, data: unknown): void {
    this.seq += 1;
    this.ctx.storage.sql.exec("INSERT INTO events (seq, type, at, data) VALUES (?, ?, ?, ?)", this.seq, type, new Date().toISOString(), JSON.stringify(data));
    this.usage.storage_rows_written += 1;
    this.status = STATUS_AFTER[type] ?? this.status;
  }

  /** A calculator step, computed where the run's state lives: no hop. Null when it fails. */
  private calculate(step: number, expression: string): number | null {
    this.append("step.started", { step, attempt: 1 });
    try {
      const output = evaluateExpression(expression);
      this.append("step.succeeded", { step, attempt: 1, output });
      return output;
    } catch (err) {
      this.append("step.failed", { step, attempt: 1, error: String(err) });
      return null;
    }
  }

  private async fetchStep(step: number, url: string): Promise<boolean> {
    this.append("step.started", { step, attempt: 1 });
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.status >= 500) throw new Error(`upstream answered ${res.status}`);
      this.append("step.succeeded", { step, attempt: 1, output: { status: res.status } });
      return true;
    } catch (err) {
      this.append("step.failed", { step, attempt: 1, error: String(err) });
      return false;
    }
  }

  /** Ends the run and starts its one read-model write, which nothing waits for. */
  private finish(runId: string, workload: Workload["workload"], createdAt: string, output: number | null, steps: number): void {
    const status: FloorStatus = output === null ? "failed" : "completed";
    this.append(`run.${status}`, { output });
    this.usage.d1_statements += 1;
    const write = this.env.DB.prepare("INSERT INTO runs (run_id, workload, status, steps, created_at, completed_at) VALUES (?, ?, ?, ?, ?, ?)")
      .bind(runId, workload, status, steps, createdAt, new Date().toISOString())
      .run()
      .then(
        (r) => {
          this.usage.d1_rows_written += r.meta.rows_written;
        },
        (err: unknown) => console.error(JSON.stringify({ msg: "read_model.failed", run_id: runId, error: String(err) })),
      );
    this.readModel = write;
    this.ctx.waitUntil(write);
  }
}
