/** Terminal output: a line per step as it changes and a progress bar for the run. */
export interface WireEvent {
  seq: number;
  type: string;
  at: string;
  data: Record<string, unknown>;
}

interface StepInfo {
  tool: string;
  status: string;
  started?: number;
  duration_ms?: number;
}

const tty = process.stdout.isTTY === true;
const color = (code: number, s: string) => (tty ? `\x1b[${code}m${s}\x1b[0m` : s);
export const green = (s: string) => color(32, s);
export const red = (s: string) => color(31, s);
export const yellow = (s: string) => color(33, s);
export const dim = (s: string) => color(2, s);

const ICON: Record<string, string> = { queued: "…", running: "▶", succeeded: "✓", failed: "✗", skipped: "–", retrying: "↻", waiting: "⏸" };

export function bar(done: number, total: number, width = 24): string {
  const filled = total === 0 ? width : Math.round((done / total) * width);
  return `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${done}/${total}`;
}

/** Folds the event stream into step lines; returns the line to print for an event, if any. */
export class RunProgress {
  readonly steps = new Map<number, StepInfo>();
  status = "pending";
  result: unknown;
  error: unknown;

  apply(e: WireEvent): string | undefined {
    const d = e.data;
    const n = typeof d.step === "number" ? d.step : undefined;
    const step = n !== undefined ? this.steps.get(n) : undefined;
    const line = (icon: string, extra = "") => `${icon} step ${n} ${step?.tool ?? ""}${extra}  ${dim(bar(this.done(), this.steps.size))}`;
    switch (e.type) {
      case "plan.accepted": {
        const plan = d.plan as { steps: { step_number: number; tool: string }[] };
        for (const s of plan.steps) this.steps.set(s.step_number, { tool: s.tool, status: "pending" });
        return dim(`plan: ${plan.steps.length} steps`);
      }
      case "step.queued":
        if (step) step.status = "queued";
        return undefined;
      case "step.started":
        if (step) Object.assign(step, { status: "running", started: Date.parse(e.at) });
        return line(ICON.running!, ` attempt ${String(d.attempt)}`);
      case "step.succeeded":
        if (step) Object.assign(step, { status: "succeeded", duration_ms: d.duration_ms as number });
        return line(green(ICON.succeeded!), ` ${d.duration_ms} ms`);
      case "step.retry_scheduled":
        if (step) step.status = "retrying";
        return line(yellow(ICON.retrying!), ` retry in ${d.delay_ms} ms: ${(d.error as { message: string }).message}`);
      case "step.deferred":
        if (step) step.status = "waiting";
        return line(yellow(ICON.waiting!), ` ${(d.error as { message: string }).message}`);
      case "step.failed":
        if (step) step.status = "failed";
        return line(red(ICON.failed!), ` ${(d.error as { message: string }).message}`);
      case "step.skipped":
        if (step) step.status = "skipped";
        return line(dim(ICON.skipped!), ` skipped (${String(d.reason)})`);
      case "run.completed":
        this.status = "completed";
        this.result = d.result;
        return green(`run completed: ${JSON.stringify(d.result)}`);
      case "run.failed":
        this.status = "failed";
        this.error = d.error;
        return red(`run failed: ${(d.error as { message: string }).message}`);
      case "run.cancelled":
        this.status = "cancelled";
        return yellow("run cancelled");
      default:
        return undefined;
    }
  }

  done(): number {
    return [...this.steps.values()].filter((s) => ["succeeded", "failed", "skipped"].includes(s.status)).length;
  }

  finished(): boolean {
    return ["completed", "failed", "cancelled"].includes(this.status);
  }
}
