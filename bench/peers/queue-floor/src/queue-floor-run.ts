/**
 * QueueFloorRun: one SQLite-backed Durable Object per run, doing only what a run whose I/O steps
 * travel by queue cannot skip. create() appends the run's first events; a calc step is computed
 * in place (as Crane runs Calculator inline); a DAG's fetch steps each go out as one queue message
 * (one sendBatch). report() appends the step's end; the last one computes the join and ends the
 * run; the D1 read-model row is written after. No lease, retry, breaker or validation: a lower
 * bound for Crane's queued design, not a peer.
 */
import { DurableObject } from "cloudflare:workers";
import { evaluateExpression } from "../../../../src/tools/calculator/parser";
import type { RunUsage } from "../../../../src/durable/run/storage/usage-meter";

export interface StepMessage {
  run_id: string;
  step: number;
  url: string;
}

export interface QueueFloorEnv {
  RUNS: DurableObjectNamespace<QueueFloorRun>;
  STEPS: Queue<StepMessage>;
  DB: D1Database;
}

export type Workload = { workload: "calc" } | { workload: "dag"; urls: string[] };
export type RunStatus = "running" | "completed" | "failed";
type Meta = { run_id: string; workload: Workload["workload"]; created_at: string; steps: number };

const STATUS_AFTER: Record<string, RunStatus> = { "run.created": "running", "run.completed": "completed", "run.failed": "failed" };

export class QueueFloorRun extends DurableObject<QueueFloorEnv> {
  private seq: number;
  private status: RunStatus | null;
  private usage: RunUsage = {
    do_requests: 0,
    storage_rows_written: 0,
    queue_messages: 0,
    read_model_rows: 0,
    queued_attempts: 0,
    d1_statements: 0,
    d1_rows_written: 0,
    shared_requests: {},
  };
  private readModel: Promise<void> = Promise.resolve();

  constructor(ctx: DurableObjectState, env: QueueFloorEnv) {
    super(ctx, env);
    const sql = ctx.storage.sql;
    sql.exec("CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, type TEXT NOT NULL, at TEXT NOT NULL, data TEXT NOT NULL)");
    const rows = sql.exec<{ type: string }>("SELECT type FROM events ORDER BY seq").toArray();
    this.seq = rows.length;
    this.status = rows.reduce<RunStatus | null>((s, e) => STATUS_AFTER[e.type] ?? s, null);
  }

  async create(runId: string, w: Workload): Promise<{ run_id: string; status: RunStatus }> {
    if (this.status) return { run_id: runId, status: this.status }; // a replay changes nothing
    this.usage.do_requests += 1;
    const meta: Meta = { run_id: runId, workload: w.workload, created_at: new Date().toISOString(), steps: w.workload === "calc" ? 1 : w.urls.length + 1 };
    this.append("run.created", meta);
    if (w.workload === "calc") {
      this.append("plan.accepted", { steps: [{ step: 1, tool: "Calculator.evaluate", input: { expression: "2 + 3" } }] });
      this.finish(this.calculate(1, "2 + 3"));
    } else {
      this.append("plan.accepted", {
        steps: [
          ...w.urls.map((url, i) => ({ step: i + 1, tool: "Http.get", input: { url } })),
          { step: w.urls.length + 1, tool: "Calculator.evaluate", depends_on: w.urls.map((_, i) => i + 1) },
        ],
      });
      for (const [i] of w.urls.entries()) this.append("step.started", { step: i + 1, attempt: 1 });
      await this.env.STEPS.sendBatch(w.urls.map((url, i) => ({ body: { run_id: runId, step: i + 1, url } })));
      this.usage.queue_messages += w.urls.length;
      this.usage.queued_attempts += w.urls.length;
    }
    return { run_id: runId, status: this.status ?? "running" };
  }

  /** One fetch step's end; the last one runs the join and ends the run. */
  async report(step: number, ok: boolean): Promise<void> {
    this.usage.do_requests += 1;
    if (this.status !== "running") return;
    this.append(ok ? "step.succeeded" : "step.failed", { step, attempt: 1 });
    const meta = this.meta();
    const ended = this.ctx.storage.sql
      .exec<{ n: number; failed: number }>(
        "SELECT count(*) AS n, sum(type = 'step.failed') AS failed FROM events WHERE type IN ('step.succeeded', 'step.failed')",
      )
      .one();
    if (ended.n < meta.steps - 1) return;
    this.finish(ended.failed > 0 ? null : this.calculate(meta.steps, Array.from({ length: meta.steps - 1 }, () => "1").join(" + ")));
  }

  async getStatus(): Promise<RunStatus | null> {
    return this.status;
  }

  async getUsage(): Promise<RunUsage> {
    await this.readModel;
    return this.usage;
  }

  /** What run.created recorded: the run's id, workload, creation time and step count. */
  private meta(): Meta {
    const row = this.ctx.storage.sql.exec<{ data: string }>("SELECT data FROM events WHERE seq = 1").one();
    return JSON.parse(row.data) as Meta;
  }

  private append(type: string, data: unknown): void {
    this.seq += 1;
    this.ctx.storage.sql.exec("INSERT INTO events (seq, type, at, data) VALUES (?, ?, ?, ?)", this.seq, type, new Date().toISOString(), JSON.stringify(data));
    this.usage.storage_rows_written += 1;
    this.status = STATUS_AFTER[type] ?? this.status;
  }

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

  /** Ends the run and starts its one read-model write, which nothing waits for. */
  private finish(output: number | null): void {
    const status: RunStatus = output === null ? "failed" : "completed";
    this.append(`run.${status}`, { output });
    this.usage.d1_statements += 1;
    const meta = this.meta();
    const write = this.env.DB.prepare("INSERT INTO runs (run_id, workload, status, steps, created_at, completed_at) VALUES (?, ?, ?, ?, ?, ?)")
      .bind(meta.run_id, meta.workload, status, meta.steps, meta.created_at, new Date().toISOString())
      .run()
      .then(
        (r) => {
          this.usage.d1_rows_written += r.meta.rows_written;
        },
        (err: unknown) => console.error(JSON.stringify({ msg: "read_model.failed", run_id: meta.run_id, error: String(err) })),
      );
    this.readModel = write;
    this.ctx.waitUntil(write);
  }
}
