/**
 * One JSON object per line, so Workers Logs can index every field (run_id, step, tool, ...).
 * Messages are dotted event names ("step.succeeded"), never interpolated sentences.
 */
import { env } from "cloudflare:workers";

type Fields = Record<string, unknown>;
type Level = "debug" | "info" | "warn" | "error";

const RANK: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/**
 * LOG_LEVEL (a var, default "info") drops lines below it before they are built: each line is a
 * JSON.stringify and a billed Workers Logs event, and a run writes one per event at "info".
 */
function enabled(level: Level): boolean {
  const min = (env as { LOG_LEVEL?: string } | undefined)?.LOG_LEVEL as Level | undefined;
  return RANK[level] >= (min && min in RANK ? RANK[min] : RANK.info);
}

function write(level: Level, msg: string, fields: Fields): void {
  if (!enabled(level)) return;
  const line = JSON.stringify({ level, msg, ...fields, at: new Date().toISOString() });
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else console.log(line);
}

export const log = {
  debug: (msg: string, fields: Fields = {}) => write("debug", msg, fields),
  info: (msg: string, fields: Fields = {}) => write("info", msg, fields),
  warn: (msg: string, fields: Fields = {}) => write("warn", msg, fields),
  error: (msg: string, fields: Fields = {}) => write("error", msg, fields),
};

export function errorFields(err: unknown): Fields {
  if (err instanceof Error) return { error_name: err.name, error_message: err.message };
  return { error_message: String(err) };
}
