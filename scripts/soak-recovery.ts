/**
 * How long the runs in flight at the kill took to recover, measured from their own logs (event
 * times are the run objects' clocks, on this machine): a run was in flight at the kill when it was
 * created before it and had not ended by then. Recovery is from the restart until the last of
 * them ended; a run's stall is the gap the crash made in its log, from its last event before the
 * kill to its first event after the restart (the downtime, plus any wait for a lost step's lease).
 */
export interface RecoveryInput {
  run_id: string;
  /** Headers that may read the run (its tenant's key). */
  auth: Record<string, string>;
}

export interface Recovery {
  in_flight_at_kill: number;
  /** From the restart until every run in flight at the kill had ended (ms). */
  recovered_ms: number;
  max_stall_ms: number;
  median_stall_ms: number;
  /** The run that stalled longest, and its gap's two events. */
  worst: { run_id: string; before: string; after: string } | null;
}

interface RunTimes {
  created_at: string;
  completed_at: string | null;
}
interface Event {
  seq: number;
  type: string;
  at: string;
}

export async function measureRecovery(
  baseUrl: string,
  runs: readonly RecoveryInput[],
  killedAt: number,
  restartedAt: number,
  concurrency = 16,
): Promise<Recovery> {
  const get = async <T>(path: string, auth: Record<string, string>): Promise<T> => {
    const res = await fetch(`${baseUrl}/api/v1${path}`, { headers: auth });
    if (!res.ok) throw new Error(`GET ${path}: ${res.status}`);
    return (await res.json()) as T;
  };
  const stalls: { run_id: string; ms: number; before: string; after: string }[] = [];
  let lastEnd = restartedAt;
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < runs.length) {
        const r = runs[next++]!;
        const run = await get<RunTimes>(`/runs/${r.run_id}`, r.auth);
        const ended = run.completed_at === null ? Infinity : Date.parse(run.completed_at);
        if (Date.parse(run.created_at) >= killedAt || ended <= killedAt) continue;
        lastEnd = Math.max(lastEnd, ended);
        const events: Event[] = [];
        for (let after = 0; ;) {
          const page = await get<{ events: Event[] }>(`/runs/${r.run_id}/events?after=${after}&limit=1000`, r.auth);
          events.push(...page.events);
          if (page.events.length === 0) break;
          after = page.events.at(-1)!.seq;
        }
        const before = events.filter((e) => Date.parse(e.at) <= killedAt).at(-1);
        const after = events.find((e) => Date.parse(e.at) > killedAt);
        if (before && after) stalls.push({ run_id: r.run_id, ms: Date.parse(after.at) - Date.parse(before.at), before: before.type, after: after.type });
      }
    }),
  );
  stalls.sort((a, b) => a.ms - b.ms);
  const worst = stalls.at(-1);
  return {
    in_flight_at_kill: stalls.length,
    recovered_ms: lastEnd === Infinity ? Infinity : lastEnd - restartedAt,
    max_stall_ms: worst?.ms ?? 0,
    median_stall_ms: stalls[Math.floor(stalls.length / 2)]?.ms ?? 0,
    worst: worst ? { run_id: worst.run_id, before: worst.before, after: worst.after } : null,
  };
}
