/**
 * crane: a command line for Crane's API.
 *   crane run "<prompt>" [--follow]   submit a run (and follow it live)
 *   crane get <id> | crane list [--status s] | crane watch <id> | crane tools
 * Base URL and API key from --url/--api-key or CRANE_URL/CRANE_API_KEY; --json for machine output.
 */
import { Command, Option } from "commander";
import { CraneClient, CraneError } from "./client.ts";
import { RunProgress, bar, dim, green, red, type WireEvent } from "./render.ts";

interface Globals {
  url: string;
  apiKey?: string;
  json?: boolean;
}

interface Run {
  run_id: string;
  status: string;
  result: unknown;
  error: { message: string } | null;
  execution_log: { step_number: number; tool: string; status: string; attempts: number; duration_ms: number | null; error: { message: string } | null }[];
}

const program = new Command()
  .name("crane")
  .description("Run and watch Crane agent runs")
  .addOption(new Option("--url <url>", "Crane's base URL").env("CRANE_URL").default("http://localhost:8787"))
  .addOption(new Option("--api-key <key>", "API key").env("CRANE_API_KEY"))
  .option("--json", "print JSON instead of text");

const globals = () => program.opts<Globals>();
const client = () => new CraneClient({ url: globals().url, apiKey: globals().apiKey });
const print = (text: string): void => {
  process.stdout.write(`${text}\n`);
};
const printJson = (value: unknown): void => print(JSON.stringify(value, null, 2));
const TERMINAL = new Set(["run.completed", "run.failed", "run.cancelled"]);

/** Follows a run's events until it ends; resolves to its final status. Reconnects after a drop. */
function follow(runId: string, onEvent: (e: WireEvent) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    let last = 0;
    let drops = 0;
    let ended = false;
    const connect = async () => {
      let ws: WebSocket;
      try {
        ws = await client().watch(runId, last);
      } catch (err) {
        reject(err);
        return;
      }
      ws.addEventListener("message", (m) => {
        if (m.data === "pong") return;
        const event = JSON.parse(String(m.data)) as WireEvent;
        if (event.seq <= last) return;
        last = event.seq;
        onEvent(event);
        if (TERMINAL.has(event.type)) {
          ended = true;
          ws.close(1000);
          resolve(event.type.slice("run.".length));
        }
      });
      ws.addEventListener("close", () => {
        // A dropped connection resumes after the last event seen; a finished run does not.
        if (!ended && last > 0 && ++drops <= 5) setTimeout(connect, 250 * drops);
      });
      ws.addEventListener("error", () => {
        if (last === 0) reject(new CraneError(0, "unreachable", `Cannot watch run ${runId} at ${globals().url}.`));
      });
    };
    void connect();
  });
}

async function watchAndRender(runId: string): Promise<number> {
  const progress = new RunProgress();
  const status = await follow(runId, (e) => {
    if (globals().json) print(JSON.stringify(e));
    else {
      const line = progress.apply(e);
      if (line) print(line);
    }
  });
  return status === "completed" ? 0 : 1;
}

function renderRun(run: Run): void {
  if (globals().json) return printJson(run);
  const colour = run.status === "completed" ? green : run.status === "failed" ? red : (s: string) => s;
  print(`${run.run_id}  ${colour(run.status)}`);
  for (const s of run.execution_log) {
    print(`  ${s.step_number}. ${s.tool.padEnd(20)} ${s.status.padEnd(9)} ${dim(`${s.attempts} attempt(s)${s.duration_ms !== null ? `, ${s.duration_ms} ms` : ""}`)}${s.error ? ` ${red(s.error.message)}` : ""}`);
  }
  const done = run.execution_log.filter((s) => ["succeeded", "failed", "skipped"].includes(s.status)).length;
  print(dim(bar(done, run.execution_log.length)));
  if (run.status === "completed") print(`result: ${JSON.stringify(run.result)}`);
  if (run.error) print(red(`error: ${run.error.message}`));
}

program
  .command("run")
  .description("submit a run from a prompt")
  .argument("<prompt>", "the task, in plain words")
  .option("-f, --follow", "show each step live until the run ends (exit 1 if it fails)")
  .action(async (prompt: string, opts: { follow?: boolean }) => {
    const run = await client().request<Run>("POST", "/runs", { prompt });
    if (!opts.follow) return renderRun(run);
    if (!globals().json) print(`${run.run_id}  ${dim(`${run.execution_log.length} steps`)}`);
    process.exitCode = await watchAndRender(run.run_id);
  });

program
  .command("get")
  .description("show a run")
  .argument("<run_id>")
  .action(async (runId: string) => {
    const run = await client().request<Run>("GET", `/runs/${encodeURIComponent(runId)}`);
    renderRun(run);
    if (run.status === "failed") process.exitCode = 1;
  });

program
  .command("watch")
  .description("follow a run's events live until it ends")
  .argument("<run_id>")
  .action(async (runId: string) => {
    process.exitCode = await watchAndRender(runId);
  });

program
  .command("list")
  .description("recent runs, newest first")
  .option("-s, --status <status>", "only runs with this status")
  .option("-n, --limit <n>", "how many", "20")
  .action(async (opts: { status?: string; limit: string }) => {
    const q = new URLSearchParams({ limit: opts.limit, ...(opts.status ? { status: opts.status } : {}) });
    const page = await client().request<{ runs: { run_id: string; status: string; prompt: string | null; created_at: string }[] }>("GET", `/runs?${q}`);
    if (globals().json) return printJson(page);
    for (const r of page.runs) print(`${r.run_id}  ${r.status.padEnd(9)} ${dim(r.created_at)}  ${r.prompt ?? dim("(explicit plan)")}`);
    if (page.runs.length === 0) print(dim("no runs"));
  });

program
  .command("tools")
  .description("the tools plans can use")
  .action(async () => {
    const { tools } = await client().request<{ tools: { name: string; description: string }[] }>("GET", "/tools");
    if (globals().json) return printJson(tools);
    for (const t of tools) print(`${t.name.padEnd(22)} ${t.description}`);
  });

try {
  await program.parseAsync();
} catch (err) {
  if (err instanceof CraneError) {
    if (globals().json) process.stderr.write(`${JSON.stringify({ error: { code: err.code, message: err.message, status: err.status } })}\n`);
    else process.stderr.write(`${red("error")}: ${err.message}${err.code ? dim(` (${err.code})`) : ""}\n`);
    if (!globals().json && err.status === 401) process.stderr.write(`Give an API key with --api-key or CRANE_API_KEY (locally: crane_dev_key).\n`);
    process.exitCode = 2;
  } else throw err;
}
