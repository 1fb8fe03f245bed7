/**
 * Terminal output: a line per step as it changes and a progress bar for the run. Everything here
 * returns text; the caller writes it, so tests read exactly what a terminal would get.
 */
import type { Run, StepEntry, WireEvent } from "./client.ts";
import { AgentLines, turnLines, type TurnEntry } from "./agent-render.ts";
import { LiveRegion } from "./live-region.ts";
import { labelled } from "./result-format.ts";
import { runEnded } from "../src/execution/statuses.ts";

import { palette, type Palette } from "./palette.ts";

const stdoutTty = process.stdout.isTTY === true;
export const { green, red, yellow, dim } = palette(stdoutTty);

const ICON: Record<string, string> = { pending: "·", queued: "…", running: "▶", succeeded: "✓", failed: "✗", skipped: "–", retrying: "↻", waiting: "⏸" };
const DONE = new Set(["succeeded", "failed", "skipped"]);
const TERMINAL_EVENTS = new Set(["run.completed", "run.failed", "run.cancelled"]);
/**
 * A step waiting on its breaker goes round started → deferred → started → … (each dispatch is a
 * step.started; a deferral gives its attempt back): these events are part of the wait, so they do
 * not end a run of folded deferrals. Its outcome, or any other event for the step, does.
 * (step.queued and step.redispatched come from servers of the earlier protocol.)
 */
const WAIT_LOOP = new Set(["step.deferred", "step.started", "step.queued", "step.redispatched"]);

export function bar(done: number, total: number, width = 24): string {
  const filled = total === 0 ? width : Math.round((done / total) * width);
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${done}/${total}`;
}

const two = (n: number) => String(n).padStart(2, "0");
/** Local wall-clock time, HH:MM:SS. */
export function clock(at: number): string {
  const d = new Date(at);
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

/** A duration as a person says it: "5 s", "1 min 30 s". */
export function span(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

const message = (v: unknown) =>
  typeof v === "object" && v !== null && typeof (v as { message?: unknown }).message === "string" ? (v as { message: string }).message : String(v);
const codeOf = (v: unknown) =>
  typeof v === "object" && v !== null && typeof (v as { code?: unknown }).code === "string" ? (v as { code: string }).code : undefined;
const epochMs = (v: unknown) => (typeof v === "number" ? v : typeof v === "string" ? Date.parse(v) : NaN);

export const completedLine = (c: Palette, result: unknown) => c.green(labelled("run completed", result));

/** `1 step`, `3 steps`. */
export const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
export const failedLine = (c: Palette, error: unknown) => c.red(`run failed: ${message(error)}`);
export const cancelledLine = (c: Palette) => c.yellow("run cancelled");

function stepLine(c: Palette, icon: string, n: number | undefined, tool: string, extra: string, done: number, total: number): string {
  return `${icon} step ${n} ${tool}${extra}  ${c.dim(bar(done, total))}`;
}

interface StepInfo {
  tool: string;
  status: string;
  started?: number;
  duration_ms?: number;
}

/** A run of `step.deferred` events for one step, shown as one line. */
interface Deferrals {
  count: number;
  first_at: number;
  code: string | undefined;
  message: string;
  retry_at: number;
}

export interface ProgressOptions {
  /** Rewrite the deferral line in place (a terminal) or print it once (a file or pipe). Default: stdout's. */
  tty?: boolean;
  /** ANSI colours. Default: as `tty`. */
  color?: boolean;
  /** The terminal's width, to know how many rows a wrapped line takes. Default: stdout's. */
  columns?: number;
}

/** Folds the event stream into step lines; `apply` returns the text to write for an event (often none). */
export class RunProgress {
  readonly steps = new Map<number, StepInfo>();
  status = "pending";
  result: unknown;
  error: unknown;
  private readonly c: Palette;
  private readonly live: LiveRegion | undefined;
  private readonly waiting = new Map<number, Deferrals>();
  /** Agent steps' streamed text and tool calls. */
  private readonly agent: AgentLines;
  private last_at = Date.now();
  /** Printed on the plan's line, so a followed run has one header. */
  runId: string | undefined;

  constructor(opts: ProgressOptions = {}) {
    const tty = opts.tty ?? stdoutTty;
    this.c = palette(opts.color ?? tty);
    this.live = tty ? new LiveRegion(opts.columns ?? process.stdout.columns) : undefined;
    this.agent = new AgentLines(this.c, this.live);
  }

  apply(e: WireEvent): string {
    const at = Date.parse(e.at);
    if (!Number.isNaN(at)) this.last_at = at;
    const n = typeof e.data.step === "number" ? e.data.step : undefined;
    if (e.type === "step.deferred" && n !== undefined) return this.deferred(n, e);
    const lines: string[] = [];
    let ended = false;
    // A dispatch while the step waits on its breaker prints nothing: the folded line covers it.
    if (n !== undefined && this.waiting.has(n) && WAIT_LOOP.has(e.type)) return this.write(lines, ended);
    if (n !== undefined && this.waiting.has(n) && !WAIT_LOOP.has(e.type)) ended = this.endWait(n, lines);
    if (TERMINAL_EVENTS.has(e.type)) for (const k of this.waiting.keys()) ended = this.endWait(k, lines) || ended;
    this.agent.runId = this.runId;
    const agent = this.agent.apply(e);
    if (agent) return this.write([...lines, ...agent.lines], ended || agent.redraw);
    const line = this.line(e, n);
    if (line !== undefined) lines.push(line);
    return this.write(lines, ended);
  }

  /** A line about the connection, printed above the live lines (which are drawn again below it). */
  notice(text: string): string {
    return this.write([this.c.yellow(text)], true);
  }

  /** Ends whatever is still folding (the stream stopped early): the text to write. */
  finish(): string {
    const lines: string[] = [];
    let ended = false;
    for (const k of this.waiting.keys()) ended = this.endWait(k, lines) || ended;
    return this.write(lines, ended);
  }

  done(): number {
    return [...this.steps.values()].filter((s) => DONE.has(s.status)).length;
  }

  finished(): boolean {
    return runEnded(this.status);
  }

  private write(lines: string[], redraw: boolean): string {
    if (!this.live) return lines.map((l) => `${l}\n`).join("");
    if (lines.length === 0 && !redraw) return "";
    // The folded lines are drawn again below: with the progress bar as it is now.
    for (const n of this.waiting.keys()) this.live.set(n, this.waitingLine(n));
    return this.live.paint(lines);
  }

  private waitingLine(n: number): string {
    const d = this.waiting.get(n)!;
    const why = d.code === "tool_unavailable" ? "waiting for its breaker" : `waiting: ${d.message}`;
    const next = Number.isNaN(d.retry_at) ? "" : `, next try ${clock(d.retry_at)}`;
    return this.stepLine(this.c.yellow(ICON.waiting!), n, ` ${why} (deferred ${d.count}×${next})`);
  }

  private stepLine(icon: string, n: number | undefined, extra: string): string {
    const tool = n !== undefined ? (this.steps.get(n)?.tool ?? "") : "";
    return stepLine(this.c, icon, n, tool, extra, this.done(), this.steps.size);
  }

  private deferred(n: number, e: WireEvent): string {
    const step = this.steps.get(n);
    if (step) step.status = "waiting";
    const d = this.waiting.get(n) ?? { count: 0, first_at: this.last_at, code: undefined, message: "", retry_at: NaN };
    d.count += 1;
    d.code = codeOf(e.data.error);
    d.message = message(e.data.error);
    d.retry_at = epochMs(e.data.retry_at);
    this.waiting.set(n, d);
    if (this.live) return this.write([], true);
    // Not a terminal: the first deferral is news, the rest are not (a summary follows at the end).
    return d.count === 1 ? `${this.waitingLine(n)}\n` : "";
  }

  /** The step moved on: its folded line becomes a summary. Returns whether the live lines changed. */
  private endWait(n: number, lines: string[]): boolean {
    const d = this.waiting.get(n);
    if (!d) return false;
    this.waiting.delete(n);
    this.live?.delete(n);
    const why = d.code === "tool_unavailable" ? "waited for its breaker" : `waited: ${d.message}`;
    const summary = this.stepLine(this.c.yellow(ICON.waiting!), n, ` ${why} (deferred ${d.count}× over ${span(this.last_at - d.first_at)})`);
    // On a terminal the live line turns into the summary; elsewhere the first line is already
    // printed, and one deferral needs no summary.
    if (this.live || d.count > 1) lines.push(summary);
    return this.live !== undefined;
  }

  private line(e: WireEvent, n: number | undefined): string | undefined {
    const d = e.data;
    const step = n !== undefined ? this.steps.get(n) : undefined;
    const c = this.c;
    switch (e.type) {
      case "plan.accepted": {
        const plan = d.plan as { steps: { step_number: number; tool: string }[] };
        for (const s of plan.steps) this.steps.set(s.step_number, { tool: s.tool, status: "pending" });
        return `${this.runId ? `${this.runId}  ` : ""}${c.dim(`plan: ${plural(plan.steps.length, "step")}`)}`;
      }
      case "step.queued":
        if (step) step.status = "queued";
        return undefined;
      case "step.started":
        if (step) Object.assign(step, { status: "running", started: Date.parse(e.at) });
        return this.stepLine(ICON.running!, n, ` attempt ${String(d.attempt)}`);
      case "step.succeeded":
        if (step) Object.assign(step, { status: "succeeded", duration_ms: d.duration_ms as number });
        return this.stepLine(c.green(ICON.succeeded!), n, ` ${String(d.duration_ms)} ms`);
      case "step.waiting": {
        // An approval or a signal: the run waits for someone, and says who may act and how.
        if (step) step.status = "waiting";
        const input = (d.input ?? {}) as { message?: unknown; name?: unknown };
        const until = Number.isNaN(epochMs(d.until)) ? "" : `, until ${clock(epochMs(d.until))}`;
        const what = d.kind === "signal" ? `waiting for signal "${String(input.name)}"` : `waiting for approval: ${String(input.message ?? "")}`;
        const how = this.runId ? c.dim(d.kind === "signal" ? `  crane signal ${this.runId} ${String(input.name)}` : `  crane approve ${this.runId} ${n}`) : "";
        return `${this.stepLine(c.yellow(ICON.waiting!), n, ` ${what}${until}`)}${how}`;
      }
      case "step.decided":
        // The decision is the step's outcome: approve succeeds it, reject fails it.
        if (step) step.status = d.decision === "approve" ? "succeeded" : "failed";
        return this.stepLine(
          d.decision === "approve" ? c.green(ICON.succeeded!) : c.red(ICON.failed!),
          n,
          ` ${d.decision === "approve" ? "approved" : "rejected"}${d.timed_out ? " at its timeout" : ` by ${String(d.decided_by)}`}${typeof d.comment === "string" ? `: ${d.comment}` : ""}`,
        );
      case "step.retry_scheduled":
        if (step) step.status = "retrying";
        return this.stepLine(c.yellow(ICON.retrying!), n, ` retry in ${String(d.delay_ms)} ms: ${message(d.error)}`);
      case "step.failed":
        if (step) step.status = "failed";
        return this.stepLine(c.red(ICON.failed!), n, ` ${message(d.error)}`);
      case "step.skipped":
        if (step) step.status = "skipped";
        return this.stepLine(c.dim(ICON.skipped!), n, ` skipped (${String(d.reason)})`);
      case "child.started":
        // A Run.start step's child: with wait the step goes on waiting for it; follow it with its id.
        return `${this.stepLine(ICON.running!, n, ` child run ${String(d.run_id)}${d.wait ? " started, waiting for it" : " started"}`)}${c.dim(`  crane watch ${String(d.run_id)}`)}`;
      case "child.ended":
        return this.stepLine(c.dim(ICON.running!), n, ` child run ${String(d.run_id)} ended ${String(d.status)}`);
      case "run.paused":
        return c.yellow(`paused: nothing new starts until it is resumed${this.runId ? ` (crane resume ${this.runId})` : ""}`);
      case "run.unpaused":
        return c.dim("resumed");
      case "run.cancelling":
        return c.yellow(`cancelling: steps in flight finish, then what succeeded is undone`);
      case "compensation.started": {
        const steps = (d.steps as { step: number; tool: string }[]).map((s) => `${s.step} (${s.tool})`);
        return c.yellow(`undoing ${plural(steps.length, "step")}, newest first: ${steps.join(", ")}`);
      }
      case "step.compensated":
        return this.stepLine(c.green(ICON.succeeded!), n, ` undone`);
      case "step.compensation_failed":
        return this.stepLine(
          d.retry_at === undefined ? c.red(ICON.failed!) : c.yellow(ICON.retrying!),
          n,
          d.retry_at === undefined ? ` could not be undone: ${message(d.error)}` : ` undo ${d.deferred ? "deferred" : "failed, retrying"}: ${message(d.error)}`,
        );
      case "compensation.completed":
        return c.green("undone: every step with a compensation");
      case "compensation.failed":
        return c.red(`not undone: step ${(d.steps as number[]).join(", ")}`);
      case "run.completed":
        this.status = "completed";
        this.result = d.result;
        return completedLine(c, d.result);
      case "run.failed":
        this.status = "failed";
        this.error = d.error;
        return failedLine(c, d.error);
      case "run.cancelled":
        this.status = "cancelled";
        return cancelledLine(c);
      default:
        return undefined;
    }
  }
}

/** What a finished step's entry says beyond its icon: duration, error or skip, attempts, deferrals. */
function entryExtra(s: StepEntry): string {
  const notes = [...(s.attempts > 1 ? [`${s.attempts} attempts`] : []), ...(s.deferrals ? [`deferred ${s.deferrals}×`] : [])];
  const tail = notes.length > 0 ? ` (${notes.join(", ")})` : "";
  if (s.status === "succeeded") return `${s.duration_ms !== null ? ` ${s.duration_ms} ms` : ""}${tail}`;
  if (s.status === "failed") return ` ${s.error?.message ?? "failed"}${tail}`;
  if (s.status === "skipped") return ` skipped (${s.skip_reason ?? "unknown"})${tail}`;
  return ` ${s.status}${tail}`;
}

/**
 * A run that already ended, told as `--follow` would have told it: a line per step in the order
 * the steps finished (the bar counting up), then the run's own line.
 */
export function endedRunLines(run: Run, c: Palette): string[] {
  const last = "\uffff"; // steps that never finished sort after the rest
  const order = [...run.execution_log].sort((a, b) => (a.completed_at ?? last).localeCompare(b.completed_at ?? last) || a.step_number - b.step_number);
  let done = 0;
  const lines = order
    .map((s) => {
      if (DONE.has(s.status)) done += 1;
      const icon =
        s.status === "succeeded"
          ? c.green(ICON.succeeded!)
          : s.status === "failed"
            ? c.red(ICON.failed!)
            : s.status === "skipped"
              ? c.dim(ICON.skipped!)
              : (ICON[s.status] ?? "?");
      const line = stepLine(c, icon, s.step_number, s.tool, entryExtra(s), done, run.execution_log.length);
      return [...(s.turns ? turnLines(s.turns as TurnEntry[], c) : []), line];
    })
    .flat();
  if (run.status === "completed") lines.push(completedLine(c, run.result));
  else if (run.status === "failed") lines.push(failedLine(c, run.error ?? "unknown error"));
  else if (run.status === "cancelled") lines.push(cancelledLine(c));
  return lines;
}

/** A run resource as `crane get` shows it. */
export function runLines(run: Run, c: Palette): string[] {
  // A run being cancelled or undoing its steps is on its way to an end it was not going to have.
  const colour =
    run.status === "completed"
      ? c.green
      : run.status === "failed"
        ? c.red
        : run.status === "cancelling" || run.status === "compensating"
          ? c.yellow
          : (s: string) => s;
  const lines = [`${run.run_id}  ${colour(run.status)}`];
  for (const s of run.execution_log) {
    const facts = [
      `${s.attempts} attempt(s)`,
      ...(s.duration_ms !== null ? [`${s.duration_ms} ms`] : []),
      ...(s.deferrals ? [`deferred ${s.deferrals}×`] : []),
    ];
    lines.push(`  ${s.step_number}. ${s.tool.padEnd(20)} ${s.status.padEnd(9)} ${c.dim(facts.join(", "))}${s.error ? ` ${c.red(s.error.message)}` : ""}`);
  }
  const done = run.execution_log.filter((s) => DONE.has(s.status)).length;
  lines.push(c.dim(bar(done, run.execution_log.length)));
  if (run.status === "completed") lines.push(labelled("result", run.result));
  if (run.error) lines.push(c.red(`error: ${run.error.message}`));
  return lines;
}
