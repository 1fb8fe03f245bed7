/**
 * An Agent.run step's events as terminal lines, under its step line: the model's text as it
 * streams in (llm.delta), and each tool call the model asks for as one line. On a terminal the
 * line of a call still in flight (running, retrying, waiting for a person) and the line of text
 * still being written live in the LiveRegion and are rewritten in place; once a call ends its line
 * is printed for good. In a file or pipe, text goes out a whole line at a time and a call gets one
 * line when it ends (and one when it starts waiting for a person, who needs to know).
 */
import type { WireEvent } from "./client.ts";
import type { LiveRegion } from "./live-region.ts";
import type { Palette } from "./palette.ts";

const INDENT = "    ";
/** Longest input shown on a call's line; the rest is cut with "…". */
const INPUT_CHARS = 60;

interface Call {
  turn: number;
  tool: string;
  input: unknown;
}

/** One model call's text: what has been printed and the line still being written. */
interface Stream {
  attempt: number;
  /** Every delta's text, in order. */
  received: string;
  /** The line being written (no newline yet). */
  partial: string;
}

export interface AgentUpdate {
  /** Lines to print for good, above the live lines. */
  lines: string[];
  /** The live lines changed: redraw them. */
  redraw: boolean;
}

const num = (v: unknown) => (typeof v === "number" ? v : NaN);
const message = (v: unknown) =>
  typeof v === "object" && v !== null && typeof (v as { message?: unknown }).message === "string" ? (v as { message: string }).message : String(v);

/** A call's input, short enough for one line: `{"url":"https://…"}` cut at 60 characters. */
export function inputText(input: unknown): string {
  const text = input === undefined ? "" : (JSON.stringify(input) ?? "");
  const points = [...text];
  return points.length > INPUT_CHARS ? `${points.slice(0, INPUT_CHARS - 1).join("")}…` : text;
}

export class AgentLines {
  private readonly calls = new Map<string, Call>();
  private readonly streams = new Map<string, Stream>();
  private readonly c: Palette;
  private readonly live: LiveRegion | undefined;
  /** The run's id, for the commands a waiting call's line suggests. */
  runId: string | undefined;

  constructor(c: Palette, live: LiveRegion | undefined) {
    this.c = c;
    this.live = live;
  }

  /** The lines for an agent event, or undefined for an event that is not one. */
  apply(e: WireEvent): AgentUpdate | undefined {
    const d = e.data;
    const step = num(d.step);
    const c = this.c;
    const callKey = `${step}:${String(d.call)}`;
    const streamKey = `${step}:${String(d.turn)}`;
    switch (e.type) {
      case "agent.turn_started":
        return { lines: [c.dim(`  step ${step} turn ${String(d.turn)}`)], redraw: false };
      case "llm.call_started":
        return this.setLive(`text:${streamKey}`, c.dim(`${INDENT}… the model is thinking${num(d.attempt) > 1 ? ` (attempt ${String(d.attempt)})` : ""}`));
      case "llm.delta":
        return this.delta(streamKey, num(d.attempt), typeof d.text === "string" ? d.text : "");
      case "llm.call_succeeded":
        return this.answered(streamKey, typeof d.text === "string" ? d.text : "", d.usage as { input_tokens?: number; output_tokens?: number } | undefined);
      case "llm.call_failed": {
        const end = this.endStream(streamKey);
        const why = message(d.error);
        if (d.deferred) end.lines.push(c.yellow(`${INDENT}⏸ model call waits for the tenant's daily LLM budget: ${why}`));
        else if (d.retry_at !== undefined) end.lines.push(c.yellow(`${INDENT}↻ model call failed, trying again: ${why}`));
        else end.lines.push(c.red(`${INDENT}✗ model call failed: ${why}`));
        return end;
      }
      case "agent.call_started": {
        const call = { turn: num(d.turn), tool: String(d.tool), input: d.input };
        this.calls.set(callKey, call);
        const attempt = num(d.attempt) > 1 ? c.dim(` attempt ${String(d.attempt)}`) : "";
        return this.setLive(`call:${callKey}`, this.callLine("▶", d.call, call, `running${attempt}`));
      }
      case "agent.call_waiting": {
        const call = { turn: num(d.turn), tool: String(d.tool), input: d.input };
        this.calls.set(callKey, call);
        const how = this.runId ? c.dim(`  crane approve ${this.runId} ${step} --call ${String(d.call)}`) : "";
        const line = `${this.callLine(c.yellow("⏸"), d.call, call, "waiting for approval")}${how}`;
        // Not a terminal: the person reading the file needs this line now, not when the call ends.
        return this.live ? this.setLive(`call:${callKey}`, line) : { lines: [line], redraw: false };
      }
      case "agent.call_decided": {
        const call = this.call(callKey);
        const by = `by ${String(d.decided_by)}${typeof d.comment === "string" ? `: ${d.comment}` : ""}`;
        if (d.decision === "approve") return this.setLive(`call:${callKey}`, this.callLine(c.green("✓"), d.call, call, `approved ${by}, running`));
        return this.settle(callKey, this.callLine(c.red("✗"), d.call, call, `rejected ${by}`));
      }
      case "agent.call_forbidden":
        return this.settle(
          callKey,
          this.callLine(c.red("✗"), d.call, { turn: num(d.turn), tool: String(d.tool), input: d.input }, `not allowed: ${String(d.reason)}`),
        );
      case "agent.call_succeeded":
        return this.settle(callKey, this.callLine(c.green("✓"), d.call, this.call(callKey), `${String(d.duration_ms)} ms`));
      case "agent.call_failed": {
        const call = this.call(callKey);
        if (d.retry_at !== undefined) {
          const what = d.deferred ? "deferred" : "failed, retrying";
          return this.setLive(`call:${callKey}`, this.callLine(c.yellow("↻"), d.call, call, `${what}: ${message(d.error)}`));
        }
        return this.settle(callKey, this.callLine(c.red("✗"), d.call, call, `${message(d.error)} (told to the model)`));
      }
      case "agent.repair_requested":
        return { lines: [c.yellow(`${INDENT}the answer does not match output_schema: the model is asked to repair it`)], redraw: false };
      case "agent.finished":
        return { lines: [c.dim(`  step ${step} answered after ${String(d.turns)} turn(s) and ${String(d.tool_calls)} tool call(s)`)], redraw: false };
      case "agent.budget_exceeded":
        return { lines: [c.red(`  step ${step} over its ${d.reason === "cost" ? "dollar" : "token"} budget: ${String(d.detail)}`)], redraw: false };
      case "agent.max_turns_exceeded":
        return { lines: [c.red(`  step ${step} used its ${String(d.turns)} turns without an answer`)], redraw: false };
      default:
        return undefined;
    }
  }

  private call(key: string): Call {
    return this.calls.get(key) ?? { turn: NaN, tool: "?", input: undefined };
  }

  private callLine(icon: string, n: unknown, call: Call, status: string): string {
    return `${INDENT}${icon} call ${String(n)} ${call.tool} ${this.c.dim(inputText(call.input))} ${status}`;
  }

  private setLive(key: string, line: string): AgentUpdate {
    if (!this.live) return { lines: [], redraw: false };
    this.live.set(key, line);
    return { lines: [], redraw: true };
  }

  /** A call ended: its live line goes, and its last state is printed for good. */
  private settle(key: string, line: string): AgentUpdate {
    this.live?.delete(`call:${key}`);
    return { lines: [line], redraw: this.live !== undefined };
  }

  private delta(key: string, attempt: number, text: string): AgentUpdate {
    const lines: string[] = [];
    let s = this.streams.get(key);
    if (s && s.attempt !== attempt) {
      // A later attempt writes the text again from its start: end the cut-off line first.
      lines.push(...this.endStream(key).lines, this.c.dim(`${INDENT}(attempt ${attempt} writes it again)`));
      s = undefined;
    }
    s ??= { attempt, received: "", partial: "" };
    this.streams.set(key, s);
    s.received += text;
    const parts = (s.partial + text).split("\n");
    s.partial = parts.pop()!;
    lines.push(...parts.map((l) => `${INDENT}${l}`));
    if (this.live) this.live.set(`text:${key}`, `${INDENT}${s.partial}`);
    return { lines, redraw: this.live !== undefined };
  }

  /** The answer carries the whole text: print what the deltas did not (a delta may be lost, or never sent). */
  private answered(key: string, text: string, usage: { input_tokens?: number; output_tokens?: number } | undefined): AgentUpdate {
    const s = this.streams.get(key);
    let rest = text;
    if (s && text.startsWith(s.received)) rest = text.slice(s.received.length);
    else if (s) {
      // What streamed is not the answer's start (an attempt cut off and not seen again): start over.
      this.endStream(key);
      return this.answered(key, text, usage);
    }
    const update = rest === "" ? { lines: [] as string[], redraw: false } : this.delta(key, s?.attempt ?? 0, rest);
    const end = this.endStream(key);
    const tokens = usage ? this.c.dim(`${INDENT}(${String(usage.input_tokens)} tokens in, ${String(usage.output_tokens)} out)`) : undefined;
    return { lines: [...update.lines, ...end.lines, ...(tokens ? [tokens] : [])], redraw: update.redraw || end.redraw };
  }

  /** Ends a model call's text: the line still being written is printed for good. */
  private endStream(key: string): AgentUpdate {
    const s = this.streams.get(key);
    this.streams.delete(key);
    const hadLive = this.live?.has(`text:${key}`) ?? false;
    this.live?.delete(`text:${key}`);
    return { lines: s && s.partial !== "" ? [`${INDENT}${s.partial}`] : [], redraw: hadLive };
  }
}

/** The turns an agent step's entry carries in the run resource (GET /runs/{id}). */
export interface TurnEntry {
  turn: number;
  text?: string | null | undefined;
  calls: { call: number; tool: string; input?: unknown; status: string; error?: { message: string } | null | undefined }[];
}

const CALL_ICON: Record<string, string> = { succeeded: "✓", failed: "✗", forbidden: "✗", rejected: "✗", waiting: "⏸", running: "▶" };

/** An ended agent step's turns, as following it would have shown them: the text, then a line per call. */
export function turnLines(turns: readonly TurnEntry[], c: Palette): string[] {
  return turns.flatMap((t) => [
    c.dim(`  turn ${t.turn}`),
    ...(t.text ? t.text.split("\n").map((l) => `${INDENT}${l}`) : []),
    ...t.calls.map((call) => {
      const icon = CALL_ICON[call.status] ?? "·";
      const coloured = call.status === "succeeded" ? c.green(icon) : icon === "✗" ? c.red(icon) : c.yellow(icon);
      const why = call.error ? `: ${call.error.message}` : "";
      return `${INDENT}${coloured} call ${call.call} ${call.tool} ${c.dim(inputText(call.input))} ${call.status}${why}`;
    }),
  ]);
}
