/**
 * crane: a command line for Crane's API.
 *   crane run "<prompt>" [--follow] [--wait s]   submit a run (and follow it live); the server
 *       holds its answer up to --wait seconds, and a run that ended by then needs no WebSocket
 *   crane get <id> | crane list [--status s] | crane watch <id> | crane tools
 * Base URL and API key from --url/--api-key or CRANE_URL/CRANE_API_KEY; --json for machine output.
 */
import { Command, InvalidArgumentError, Option } from "commander";
import { CraneClient, CraneError, type Run } from "./client.ts";
import { dim, green, red, runLines, yellow } from "./render.ts";
import { DEFAULT_WAIT_S, MAX_WAIT_S, parseWait, runCommand, watchAndRender, type RunCommandIO } from "./run-command.ts";

interface Globals {
  url: string;
  apiKey?: string;
  json?: boolean;
}

const program = new Command()
  .name("crane")
  .description("Run and watch Crane agent runs")
  .addOption(new Option("--url <url>", "Crane's base URL").env("CRANE_URL").default("http://localhost:8787"))
  .addOption(new Option("--api-key <key>", "API key").env("CRANE_API_KEY"))
  .option("--json", "print JSON instead of text");

const globals = () => program.opts<Globals>();
const client = () => new CraneClient({ url: globals().url, apiKey: globals().apiKey });
const write = (text: string): void => {
  process.stdout.write(text);
};
const print = (text: string): void => write(`${text}\n`);
const printJson = (value: unknown): void => print(JSON.stringify(value, null, 2));
const io = (): RunCommandIO => ({ client: client(), write });

function renderRun(run: Run): void {
  if (globals().json) return printJson(run);
  for (const line of runLines(run, { green, red, yellow, dim })) print(line);
}

function waitOption(raw: string): number {
  const n = parseWait(raw);
  if (n === undefined) throw new InvalidArgumentError(`Give seconds from 0 (do not wait) to ${MAX_WAIT_S}.`);
  return n;
}

program
  .command("run")
  .description("submit a run from a prompt")
  .argument("<prompt>", "the task, in plain words")
  .option("-f, --follow", "show each step live until the run ends (exit 1 if it fails)")
  .addOption(
    new Option("-w, --wait <seconds>", `let the server hold its answer until the run ends, up to this long (0: answer at once, max ${MAX_WAIT_S})`)
      .argParser(waitOption)
      .default(DEFAULT_WAIT_S),
  )
  .action(async (prompt: string, opts: { follow?: boolean; wait: number }) => {
    process.exitCode = await runCommand(prompt, { follow: opts.follow === true, wait: opts.wait, json: globals().json === true }, io());
  });

program
  .command("get")
  .description("show a run")
  .argument("<run_id>")
  .action(async (runId: string) => {
    const run = await client().getRun(runId);
    renderRun(run);
    if (run.status === "failed") process.exitCode = 1;
  });

program
  .command("watch")
  .description("follow a run's events live until it ends")
  .argument("<run_id>")
  .action(async (runId: string) => {
    process.exitCode = await watchAndRender(runId, globals().json === true, io());
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
