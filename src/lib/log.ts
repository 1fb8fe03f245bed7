/**
 * One JSON object per line, so Workers Logs can index every field (run_id, step, tool, ...).
 * Messages are dotted event names ("step.succeeded"), never interpolated sentences.
 */
type Fields = Record<string, unknown>;
type Level = "debug" | "info" | "warn" | "error";

function write(level: Level, msg: string, fields: Fields): void {
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
