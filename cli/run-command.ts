/**
 * `crane run`: submit a prompt, let the server hold the answer a few seconds (`?wait=N`), and
 * only open a WebSocket when the run has not ended by then.
 */
import type { CraneClient, Run, WireEvent } from "./client.ts";
import { EXIT_RECONNECT_TIMEOUT, follow as followRun, ReconnectTimeout, type FollowOptions } from "./follow.ts";
import { palette } from "./palette.ts";
import { endedRunLines, plural, runLines, RunProgress, type ProgressOptions } from "./render.ts";
import { TERMINAL_RUN_STATUSES as TERMINAL } from "../src/execution/statuses.ts";

export const TERMINAL_RUN_STATUSES: ReadonlySet<string> = new Set(TERMINAL);
export const DEFAULT_WAIT_S = 10;
export const MAX_WAIT_S = 30;

/** `--wait`: seconds from 0 (do not wait) to 30, fractions allowed. Undefined when out of range. */
export function parseWait(raw: string): number | undefined {
  const n = raw.trim() === "" ? NaN : Number(raw);
  return Number.isFinite(n) && n >= 0 && n <= MAX_WAIT_S ? n : undefined;
}

export interface RunCommandOptions {
  follow: boolean;
  /** Seconds the server may hold the answer; 0 submits without `?wait`. */
  wait: number;
  json: boolean;
  /** How long one lost connection may last before giving up (ms; default 5 minutes). */
  reconnectTimeoutMs?: number;
}

export interface RunCommandIO {
  client: CraneClient;
  /** Writes text as is (lines end with "\n"). */
  write: (text: string) => void;
  /** Terminal settings for the step lines; defaults to stdout's. */
  progress?: ProgressOptions;
  /** Messages about the connection that are not the run's output (stderr by default). */
  warn?: (text: string) => void;
  /** Follows the run's events until it ends; defaults to its WebSocket. */
  follow?: (runId: string, onEvent: (e: WireEvent) => void, opts: FollowOptions) => Promise<string>;
  /** The command that resumes watching, for the give-up message (default `crane watch RUN`). */
  resumeCommand?: (runId: string) => string;
}

/** What to do with the answer to POST /runs: the run's status decides, not the HTTP status. */
export type Next = "ended" | "follow";
export const nextStep = (run: Pick<Run, "status">): Next => (TERMINAL_RUN_STATUSES.has(run.status) ? "ended" : "follow");

/**
 * Follows a run's events, printing them; resolves to the exit code (0 when it completed, 1 when it
 * failed or was cancelled, EXIT_RECONNECT_TIMEOUT when the connection stayed lost too long).
 * A lost connection is said once, in place of the progress, and followed by the events it missed.
 */
export async function watchAndRender(runId: string, json: boolean, io: RunCommandIO, reconnectTimeoutMs?: number): Promise<number> {
  const progress = new RunProgress(io.progress);
  progress.runId = runId;
  const follow = io.follow ?? ((id, onEvent, opts) => followRun(io.client, id, onEvent, opts));
  const warn = io.warn ?? ((text: string) => void process.stderr.write(text));
  const notice = (text: string) => (json ? warn(`${text}\n`) : io.write(progress.notice(text)));
  const resume = io.resumeCommand?.(runId) ?? `crane watch ${runId}`;
  try {
    const status = await follow(runId, (e) => io.write(json ? `${JSON.stringify(e)}\n` : progress.apply(e)), {
      ...(reconnectTimeoutMs !== undefined ? { reconnectTimeoutMs } : {}),
      resumeCommand: resume,
      onLost: () => notice("connection lost, retrying… (the run continues on the server)"),
      onBack: () => notice("reconnected"),
    });
    return status === "completed" ? 0 : 1;
  } catch (err) {
    if (!(err instanceof ReconnectTimeout)) throw err;
    warn(`${err.message}\nPick it up again with:\n  ${err.resume}\n`);
    return EXIT_RECONNECT_TIMEOUT;
  } finally {
    if (!json) io.write(progress.finish());
  }
}

/** Runs `crane run`; resolves to the exit code. */
export const runCommand = (prompt: string, opts: RunCommandOptions, io: RunCommandIO): Promise<number> => submitRun({ prompt }, opts, io);

/** Submits a run (`crane run`'s prompt, `crane agent`'s agent) and shows or follows it; resolves to the exit code. */
export async function submitRun(body: Parameters<CraneClient["createRun"]>[0], opts: RunCommandOptions, io: RunCommandIO): Promise<number> {
  const { run } = await io.client.createRun(body, opts.wait);
  const c = palette(io.progress?.color ?? io.progress?.tty ?? process.stdout.isTTY === true);
  const print = (lines: string[]) => io.write(lines.map((l) => `${l}\n`).join(""));
  const ended = nextStep(run) === "ended";

  if (!opts.follow) {
    if (opts.json) print([JSON.stringify(run, null, 2)]);
    else print(runLines(run, c));
    return run.status === "failed" ? 1 : 0;
  }
  if (!ended) {
    // Still going (or a server that ignores `?wait`): follow it live. The plan's line, with the
    // run id, is the header.
    return watchAndRender(run.run_id, opts.json, io, opts.reconnectTimeoutMs);
  }
  // Ended within the wait: the answer has everything, no WebSocket needed. `--json` promises one
  // event per line, which the run resource does not carry: read them over HTTP instead.
  if (opts.json) for (const e of await io.client.events(run.run_id)) io.write(`${JSON.stringify(e)}\n`);
  else print([`${run.run_id}  ${c.dim(plural(run.execution_log.length, "step"))}`, ...endedRunLines(run, c)]);
  return run.status === "completed" ? 0 : 1;
}
