/**
 * npm run bench:profile [-- --runs 1000 --fanout 1000 --port-base 9530]
 *
 * A CPU profile of Crane's workerd under load, in its shipped configuration: `wrangler dev` with
 * the V8 inspector on, the Chrome DevTools Protocol's Profiler domain over a WebSocket (Node 22's
 * global WebSocket), one profile over `--runs` calc runs (16 clients) and one over a fan-out of
 * `--fanout` DAG runs (8 fetches + a join, 64 connections). Self time is grouped by function and
 * by the source file esbuild's bundle says it came from (its `// src/...` markers), as shares of
 * the non-idle samples: absolute times on a shared machine are noise. Writes
 * bench/results/profile.{json,md}.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { applyMigrations, killRuntime, startRuntime } from "../scripts/local-runtime.ts";
import { serverUrl, startUpstream } from "../test/upstream/server.ts";
import { freePort } from "./lib/runtimes.ts";
import { round } from "./lib/stats.ts";
import { crane } from "./lib/systems.ts";
import { fanout, throughput, type Sizes } from "./lib/workloads.ts";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "1000" },
    fanout: { type: "string", default: "1000" },
    "port-base": { type: "string", default: "9530" },
    top: { type: "string", default: "25" },
    out: { type: "string", default: "bench/results" },
  },
});

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** One CDP session: numbered requests, answers matched by id. */
async function inspector(port: number): Promise<{ send: (method: string, params?: object) => Promise<unknown>; close: () => void }> {
  const targets = (await (await fetch(`http://127.0.0.1:${port}/json`)).json()) as { webSocketDebuggerUrl: string; title?: string }[];
  const target = targets.find((t) => t.webSocketDebuggerUrl);
  if (!target) throw new Error(`no inspector target on port ${port}: ${JSON.stringify(targets)}`);
  // wrangler's inspector proxy only takes a connection that says where it comes from; undici
  // (Node's WebSocket) lets a client send the header a browser would.
  const ws = new WebSocket(target.webSocketDebuggerUrl, { headers: { origin: `http://127.0.0.1:${port}` } } as unknown as string[]);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = reject;
  });
  let next = 1;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  ws.onmessage = (e) => {
    const msg = JSON.parse(String(e.data)) as { id?: number; result?: unknown; error?: { message: string } };
    if (msg.id === undefined) return;
    const p = pending.get(msg.id);
    pending.delete(msg.id);
    if (msg.error) p?.reject(new Error(msg.error.message));
    else p?.resolve(msg.result);
  };
  return {
    send: (method, params = {}) =>
      new Promise((resolve, reject) => {
        const id = next++;
        pending.set(id, { resolve, reject });
        ws.send(JSON.stringify({ id, method, params }));
      }),
    close: () => ws.close(),
  };
}

/** Maps a bundle line to the source file esbuild put there (its `// path` comment before each module). */
function sourceFiles(bundlePath: string): (line: number) => string {
  const lines = readFileSync(bundlePath, "utf8").split("\n");
  const starts: { line: number; file: string }[] = [];
  lines.forEach((l, i) => {
    const m = /^\/\/ ((?:src|node_modules|bench|\.\.)\/\S+|\S+\.(?:ts|js|mjs))$/.exec(l);
    if (m) starts.push({ line: i, file: m[1]!.replace(/^(\.\.\/)+/, "").replace(/^node_modules\/(\.pnpm\/)?/, "node_modules/") });
  });
  return (line) => {
    let lo = 0;
    let hi = starts.length - 1;
    let found = "(bundle)";
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (starts[mid]!.line <= line) {
        found = starts[mid]!.file;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  };
}

/** A package's name, for files under node_modules: one row per dependency. */
const group = (file: string) => {
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file);
  return m ? `node_modules/${m[1]}` : file;
};

interface Share {
  name: string;
  share: number;
}

function summarise(
  profile: Profile,
  fileOf: (url: string, line: number) => string,
  top: number,
): { files: Share[]; functions: Share[]; idle: number; samples: number } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  // timeDeltas[i] is the time before sample i; the sample's own span is the next delta.
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i + 1] ?? 0)));
  const files = new Map<string, number>();
  const fns = new Map<string, number>();
  let idle = 0;
  let busy = 0;
  for (const [id, us] of selfUs) {
    const { callFrame: cf } = byId.get(id)!;
    if (cf.functionName === "(idle)") {
      idle += us;
      continue;
    }
    busy += us;
    const file = cf.url ? group(fileOf(cf.url, cf.lineNumber)) : cf.functionName; // (program), (garbage collector)
    files.set(file, (files.get(file) ?? 0) + us);
    const fn = `${cf.functionName || "(anonymous)"} ${cf.url ? fileOf(cf.url, cf.lineNumber) : ""}`.trim();
    fns.set(fn, (fns.get(fn) ?? 0) + us);
  }
  const shares = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, share: round((100 * us) / busy, 1) }));
  return { files: shares(files), functions: shares(fns), idle: round((100 * idle) / (idle + busy), 1), samples: profile.samples.length };
}

const upstream = await startUpstream();
let hits = 0;
upstream.on("request", () => hits++);
const port = await freePort(Number(values["port-base"]));
const inspectorPort = await freePort(port + 1);
const persistTo = ".wrangler/bench-profile";
applyMigrations(persistTo);
const rt = await startRuntime({ port, persistTo, unlimited: true, vars: { HTTP_TOOL_ALLOWLIST: "127.0.0.1:*" }, inspectorPort });
const system = crane("crane", rt.url, true);
const sizes: Sizes = {
  runs: Number(values.runs),
  concurrency: 16,
  fanout: Number(values.fanout),
  fanoutConnections: 64,
  fanoutTimeoutMs: 1_800_000,
  fanoutStallMs: 0,
  delayMs: 100,
  repeats: 1,
  upstream: serverUrl(upstream),
  upstreamHits: () => hits,
};
const top = Number(values.top);
try {
  const cdp = await inspector(inspectorPort);
  await cdp.send("Profiler.enable");
  await cdp.send("Profiler.setSamplingInterval", { interval: 500 }); // µs
  const profileOf = async <T>(work: () => Promise<T>) => {
    await cdp.send("Profiler.start");
    const result = await work();
    // Let queued work (acks, projections, slot releases) finish inside the profile.
    await new Promise((r) => setTimeout(r, 3000));
    // Under heavy load the inspector has been seen to answer stop without a profile: say so.
    const stopped = (await cdp.send("Profiler.stop")) as { profile?: Profile } | undefined;
    if (!stopped?.profile) throw new Error("Profiler.stop answered without a profile");
    return { result, profile: stopped.profile };
  };
  await throughput(system, { ...sizes, runs: 30, concurrency: 4 }); // warm-up
  const calc = await profileOf(() => throughput(system, sizes));
  console.log("calc", calc.result);
  const dag = await profileOf(() => fanout(system, sizes));
  console.log("fan-out", dag.result);
  cdp.close();

  // The bundle the profile's URLs name, read while wrangler dev still has it.
  const cache = new Map<string, (line: number) => string>();
  // workerd names the bundle by its module name ("index.js"); wrangler dev keeps it, until it
  // exits, in .wrangler/tmp/dev-*/ beside the config.
  const bundle = readdirSync(".wrangler/tmp", { withFileTypes: true })
    .filter((d) => d.isDirectory() && d.name.startsWith("dev-") && existsSync(`.wrangler/tmp/${d.name}/index.js`))
    .map((d) => `.wrangler/tmp/${d.name}/index.js`)
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
  const fileOf = (url: string, line: number) => {
    const path = url.startsWith("file://") ? fileURLToPath(url) : url === "index.js" ? bundle : url.startsWith("/") ? url : null;
    if (!path) return url;
    let f = cache.get(path);
    if (!f) {
      f = sourceFiles(path);
      cache.set(path, f);
    }
    return f(line);
  };
  const report = {
    calc: { runs: sizes.runs, ...summarise(calc.profile, fileOf, top) },
    dag_fanout: { runs: sizes.fanout, ...summarise(dag.profile, fileOf, top) },
  };
  mkdirSync(values.out, { recursive: true });
  writeFileSync(`${values.out}/profile.json`, JSON.stringify(report, null, 2));
  const table = (rows: Share[]) => ["| % of busy samples | where |", "|---:|---|", ...rows.map((r) => `| ${r.share} | \`${r.name}\` |`)].join("\n");
  const md = (name: string, r: (typeof report)["calc"]) =>
    `## ${name} (${r.runs} runs, ${r.samples} samples, ${r.idle} % idle)\n\nSelf time by file:\n\n${table(r.files)}\n\nSelf time by function:\n\n${table(r.functions)}\n`;
  writeFileSync(`${values.out}/profile.md`, `# CPU profile of Crane's workerd\n\n${md("calc runs", report.calc)}\n${md("DAG fan-out", report.dag_fanout)}`);
  console.log(readFileSync(`${values.out}/profile.md`, "utf8"));
} finally {
  await killRuntime(rt);
  upstream.close();
}
