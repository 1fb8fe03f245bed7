/**
 * CPU time of a system under test: user + system seconds of every process in its process group
 * (wrangler dev and its workerd, started detached so they share one), from /proc. Children that
 * have exited and been waited for are in their parent's cutime and cstime, so they count too.
 * Linux only; elsewhere it reads 0 and the benchmark says so.
 */
import { readdirSync, readFileSync } from "node:fs";

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ: 100 on every Linux this runs on). */
const TICKS = 100;

export function groupCpuSeconds(pgid: number): number {
  let ticks = 0;
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return 0;
  }
  for (const pid of entries) {
    if (!/^\d+$/.test(pid)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    } catch {
      continue; // gone since the listing
    }
    // pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses, so split after the last ")".
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(f[2]) !== pgid) continue;
    ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]); // utime stime cutime cstime
  }
  return ticks / TICKS;
}

/**
 * The group's CPU seconds spent on `work`, including what it still does after `work` returns
 * (queue acks, read-model writes): counted until it spends less than 20 ms in 500 ms, or 10 s.
 */
export async function cpuOf<T>(pgid: number, work: () => Promise<T>): Promise<{ result: T; cpu_s: number }> {
  const before = groupCpuSeconds(pgid);
  const result = await work();
  let last = groupCpuSeconds(pgid);
  for (let i = 0; i < 20; i++) {
    await new Promise((r) => setTimeout(r, 500));
    const now = groupCpuSeconds(pgid);
    if (now - last < 0.02) break;
    last = now;
  }
  return { result, cpu_s: groupCpuSeconds(pgid) - before };
}
