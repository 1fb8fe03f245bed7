/**
 * crane: a command line for Crane's API.
 *   crane run "<prompt>" [--follow] [--wait s]   submit a run (and follow it live); the server
 *       holds its answer up to --wait seconds, and a run that ended by then needs no WebSocket
 *   crane get <id> | crane list [--status s] [--cursor c] | crane watch <id> | crane tools
 *   crane cancel <id> | crane resume <id> | crane rerun <id> --from N [--input json] | crane plan "<prompt>"
 *   crane agent "<goal>" [--tools a,b] [--max-turns N] [--max-tokens N] [--approve tool] [--model M]
 *   crane approve|reject <id> <step> [--comment] [--call n] | crane signal <id> <name> [--payload json]
 *   crane schedules [list] | create "<cron>" "<prompt>" | get | pause | resume | trigger | delete <id>
 * Base URL and API key from --url/--api-key or CRANE_URL/CRANE_API_KEY; --json for machine output.
 * Exit codes: 0 done, 1 the run failed or was cancelled, 2 an API or usage error, 3 the connection
 * stayed lost past --reconnect-timeout (the run goes on; the message says how to pick it up).
 */
import { Command, InvalidArgumentError, Option } from "commander";
import { CraneClient, CraneError, type Run } from "./client.ts";
import { addAgentCommand } from "./agent-command.ts";
import { DEFAULT_RECONNECT_TIMEOUT_MS } from "./follow.ts";
import { dim, green, plural, red, runLines, yellow } from "./render.ts";
import { DEFAULT_WAIT_S, MAX_WAIT_S, parseWait, runCommand, watchAndRender, type RunCommandIO } from "./run-command.ts";
import { addScheduleCommands } from "./schedules.ts";

interface Globals {
  url: string;
  apiKey?: string;
  json?: boolean;
}

const DEFAULT_URL = "http://localhost:8787";

const EXAMPLES = `
Examples:
  export CRANE_API_KEY=crane_dev_key
  crane run "calculate 2 + 3 and calculate 4 * 5, then list my todos" --follow
  crane plan "add a todo to buy milk, then list my todos"     preview the plan, run nothing
  crane agent "fetch https://example.com and add a todo about it" --tools Http.get,TodoStore.add --approve TodoStore.add
  crane approve RUN_ID 1 --call 2                              approve an agent's waiting tool call
  crane watch RUN_ID                                           follow a run until it ends
  crane list --status failed                                   then: crane resume RUN_ID
  crane cancel RUN_ID [--compensate]
  crane pause RUN_ID
  crane rerun RUN_ID --from 2 --input '{"url": "https://example.com"}'  a new run from step 2; steps before it are reused
  crane approve RUN_ID 2 --comment "looks right"               decide a waiting approval (or: crane reject …)
  crane signal RUN_ID payment_received --payload '{"amount": 42}'
  crane schedules create "0 9 * * 1-5" "fetch https://status.example.com" --timezone Europe/Paris
  crane schedules                                              list schedules (then: pause, resume, delete SCHEDULE_ID)
  crane --json run "calculate 6 * 7" --follow                  one JSON event per line

Exit codes: 0 done, 1 run failed or cancelled, 2 API or usage error, 3 gave up reconnecting (the run goes on).`;

const program = new Command()
  .name("crane")
  .description("Run and watch Crane agent runs")
  .addOption(new Option("--url <url>", "Crane's base URL").env("CRANE_URL").default(DEFAULT_URL))
  .addOption(new Option("--api-key <key>", "API key").env("CRANE_API_KEY"))
  .option("--json", "print JSON instead of text")
  .addHelpText("after", EXAMPLES);

const globals = () => program.opts<Globals>();
const client = () => new CraneClient({ url: globals().url, apiKey: globals().apiKey });
const write = (text: string): void => {
  process.stdout.write(text);
};
const print = (text: string): void => write(`${text}\n`);
const printJson = (value: unknown): void => print(JSON.stringify(value, null, 2));
/** The exact command that picks a run up again, with the URL when it is not the default. */
const resumeCommand = (runId: string) => `crane watch ${runId}${globals().url !== DEFAULT_URL ? ` --url ${globals().url}` : ""}`;
const io = (): RunCommandIO => ({ client: client(), write, resumeCommand });

function renderRun(run: Run): void {
  if (globals().json) return printJson(run);
  for (const line of runLines(run, { green, red, yellow, dim })) print(line);
}

function reconnectOption(raw: string): number {
  const s = Number(raw);
  if (!Number.isFinite(s) || s <= 0) throw new InvalidArgumentError("Give seconds, more than 0.");
  return s * 1000;
}
const reconnectTimeout = () =>
  new Option("--reconnect-timeout <seconds>", "how long to keep retrying a lost connection before giving up (exit 3)")
    .argParser(reconnectOption)
    .default(DEFAULT_RECONNECT_TIMEOUT_MS, "300");

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
  .addOption(reconnectTimeout())
  .action(async (prompt: string, opts: { follow?: boolean; wait: number; reconnectTimeout: number }) => {
    process.exitCode = await runCommand(
      prompt,
      { follow: opts.follow === true, wait: opts.wait, json: globals().json === true, reconnectTimeoutMs: opts.reconnectTimeout },
      io(),
    );
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
  .addOption(reconnectTimeout())
  .action(async (runId: string, opts: { reconnectTimeout: number }) => {
    process.exitCode = await watchAndRender(runId, globals().json === true, io(), opts.reconnectTimeout);
  });

program
  .command("cancel")
  .description("cancel a run that has not ended")
  .argument("<run_id>")
  .option("--compensate", "let steps in flight finish, then undo what the run did (newest first) before it ends cancelled")
  .action(async (runId: string, opts: { compensate?: boolean }) => {
    renderRun(await client().controlRun(runId, "cancel", opts.compensate === true));
  });

program
  .command("pause")
  .description("pause a run: nothing new starts until `crane resume`; steps in flight finish")
  .argument("<run_id>")
  .action(async (runId: string) => {
    renderRun(await client().controlRun(runId, "pause"));
  });

program
  .command("resume")
  .description("continue a paused run, or re-run a failed or cancelled run's failed and skipped steps and those compensation undid")
  .argument("<run_id>")
  .action(async (runId: string) => {
    renderRun(await client().controlRun(runId, "resume"));
  });

function stepOption(raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("Give a step number (1, 2, …).");
  return n;
}

function jsonObjectOption(raw: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new InvalidArgumentError('Give a JSON object, e.g. \'{"url": "https://example.com"}\'.');
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new InvalidArgumentError("Give a JSON object.");
  return value as Record<string, unknown>;
}

program
  .command("rerun")
  .description("start a new run from an ended one at a step: the steps that do not depend on it keep their outputs; it and its dependants run again")
  .argument("<run_id>")
  .requiredOption("--from <step>", "the step to run again", stepOption)
  .option("--input <json>", "fields that replace those of that step's input", jsonObjectOption)
  .action(async (runId: string, opts: { from: number; input?: Record<string, unknown> }) => {
    renderRun(await client().rerun(runId, opts.from, opts.input));
  });

for (const decision of ["approve", "reject"] as const) {
  program
    .command(decision)
    .description(`${decision} a step waiting for approval (Human.approve), or an agent's tool call (--call)`)
    .argument("<run_id>")
    .argument("<step>", "the approval step's number (or the agent step's)", stepOption)
    .option("-c, --comment <text>", "a note kept with the decision")
    .option("--call <n>", "an Agent.run step's waiting tool call, by its number", stepOption)
    .action(async (runId: string, step: number, opts: { comment?: string; call?: number }) => {
      const answer = await client().decide(runId, step, decision, opts.comment, opts.call);
      if (globals().json) return printJson(answer);
      const what = opts.call !== undefined ? `step ${step} call ${opts.call}` : `step ${step}`;
      print(decision === "approve" ? green(`${what} approved`) : yellow(`${what} rejected`));
    });
}

function payloadOption(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    throw new InvalidArgumentError("Give JSON, for example '{\"amount\": 42}'.");
  }
}

program
  .command("signal")
  .description("send a named signal to a run (a Wait.signal step takes it)")
  .argument("<run_id>")
  .argument("<name>", "the signal's name")
  .option("-p, --payload <json>", "the signal's payload, as JSON", payloadOption)
  .action(async (runId: string, name: string, opts: { payload?: unknown }) => {
    const receipt = await client().signal(runId, name, opts.payload);
    if (globals().json) return printJson(receipt);
    print(
      receipt.delivered_to === null ? dim(`signal "${name}" kept until a step waits for it`) : green(`signal "${name}" taken by step ${receipt.delivered_to}`),
    );
  });

program
  .command("plan")
  .description("show the plan a prompt would run, without running it")
  .argument("<prompt>", "the task, in plain words")
  .action(async (prompt: string) => {
    const plan = await client().request<{ steps: { step_number: number; tool: string; input: unknown; depends_on?: number[] }[]; planner?: string }>(
      "POST",
      "/plans",
      { prompt },
    );
    if (globals().json) return printJson(plan);
    print(`plan: ${plural(plan.steps.length, "step")}${plan.planner ? dim(` (${plan.planner} planner)`) : ""}`);
    for (const s of plan.steps) {
      const after = s.depends_on?.length ? dim(`  after ${s.depends_on.join(", ")}`) : "";
      print(`  ${s.step_number}. ${s.tool.padEnd(20)} ${JSON.stringify(s.input)}${after}`);
    }
  });

program
  .command("list")
  .description("recent runs, newest first")
  .option("-s, --status <status>", "only runs with this status")
  .option("-n, --limit <n>", "how many", "20")
  .option("-c, --cursor <cursor>", "the next page (the cursor the previous page printed)")
  .action(async (opts: { status?: string; limit: string; cursor?: string }) => {
    const q = new URLSearchParams({ limit: opts.limit, ...(opts.status ? { status: opts.status } : {}), ...(opts.cursor ? { cursor: opts.cursor } : {}) });
    const page = await client().request<{ runs: { run_id: string; status: string; prompt: string | null; created_at: string }[]; next_cursor: string | null }>(
      "GET",
      `/runs?${q}`,
    );
    if (globals().json) return printJson(page);
    if (page.runs.length === 0) return print(dim(opts.cursor ? "no more runs" : `no runs yet; try: crane run "calculate 2 + 3" --follow`));
    const id = Math.max(6, ...page.runs.map((r) => r.run_id.length));
    print(dim(`${"RUN".padEnd(id)}  ${"STATUS".padEnd(9)} ${"CREATED".padEnd(24)} PROMPT`));
    for (const r of page.runs) print(`${r.run_id.padEnd(id)}  ${r.status.padEnd(9)} ${dim(r.created_at.padEnd(24))} ${r.prompt ?? dim("(explicit plan)")}`);
    if (page.next_cursor) print(dim(`more runs: crane list${opts.status ? ` --status ${opts.status}` : ""} --cursor ${page.next_cursor}`));
  });

program
  .command("tools")
  .description("the tools plans can use")
  .action(async () => {
    const { tools } = await client().request<{ tools: { name: string; description: string }[] }>("GET", "/tools");
    if (globals().json) return printJson(tools);
    for (const t of tools) print(`${t.name.padEnd(22)} ${t.description}`);
  });

addScheduleCommands(program, { client, json: () => globals().json === true, print, palette: { green, red, yellow, dim } });
addAgentCommand(program, io, () => globals().json === true);

/** An error's `details` as lines: zod issues one per line, anything else as JSON. */
function detailLines(details: unknown): string[] {
  if (details === undefined || details === null) return [];
  if (Array.isArray(details))
    return details.map((d: { path?: unknown[]; message?: string }) =>
      d.message ? `${d.path?.length ? `${d.path.join(".")}: ` : ""}${d.message}` : JSON.stringify(d),
    );
  return [JSON.stringify(details)];
}

try {
  await program.parseAsync();
} catch (err) {
  if (err instanceof CraneError) {
    if (globals().json) process.stderr.write(`${JSON.stringify({ error: { code: err.code, message: err.message, status: err.status } })}\n`);
    else {
      process.stderr.write(`${red("error")}: ${err.message}${err.code ? dim(` (${err.code})`) : ""}\n`);
      // The server's details say what would have worked (a field's allowed values, the path that was wrong).
      for (const line of detailLines(err.details)) process.stderr.write(`  ${line}\n`);
    }
    if (!globals().json && err.status === 401) process.stderr.write(`Give an API key with --api-key or CRANE_API_KEY (locally: crane_dev_key).\n`);
    process.exitCode = 2;
  } else throw err;
}
