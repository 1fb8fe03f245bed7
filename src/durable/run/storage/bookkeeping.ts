// The run object's own bookkeeping (the projection's progress and the usage counters), saved as
// one row that is rewritten anyway. Objects from before that row kept the two as `meta` entries.
import type { EventLog } from "./event-log";
import type { RunUsage } from "./usage-meter";

/** How far the D1 read model has been written, and how its retries stand. */
export interface ProjectionMark {
  seq: number;
  failures: number;
  retry_at: number;
}

export interface Bookkeeping {
  projection?: ProjectionMark;
  usage?: Partial<RunUsage>;
}

const parsed = <T>(json: string | undefined): T | undefined => (json === undefined ? undefined : (JSON.parse(json) as T));

export function readBookkeeping(log: EventLog): Bookkeeping {
  const kept = parsed<Bookkeeping>(log.getBookkeeping());
  return {
    projection: kept?.projection ?? parsed<ProjectionMark>(log.getMeta("projection")),
    usage: kept?.usage ?? parsed<Partial<RunUsage>>(log.getMeta("usage")),
  };
}

export function writeBookkeeping(log: EventLog, projection: ProjectionMark, usage: RunUsage): void {
  log.setBookkeeping(JSON.stringify({ projection, usage }));
}
