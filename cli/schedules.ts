/**
 * crane schedules: list, create, get, pause, resume, trigger, delete. The commands and their
 * rendering; the HTTP is the shared CraneClient's. Everything printed is built by the functions
 * here, which return text, so tests read what a terminal would get.
 */
import { type Command, InvalidArgumentError } from "commander";
import { z } from "zod";
import type { CraneClient } from "./client.ts";
import type { Palette } from "./palette.ts";

// What the CLI reads of a schedule; other fields pass through to --json.
const recentRunSchema = z.looseObject({ run_id: z.string().nullable(), scheduled_for: z.string(), status: z.string(), manual: z.boolean().optional() });
export const scheduleSchema = z.looseObject({
  schedule_id: z.string(),
  name: z.string().nullable(),
  cron: z.string(),
  timezone: z.string(),
  paused: z.boolean(),
  prompt: z.string().nullable(),
  next_run_at: z.string().nullable(),
  recent_runs: z.array(recentRunSchema).optional(),
});
export type Schedule = z.infer<typeof scheduleSchema>;
const listSchema = z.looseObject({ schedules: z.array(scheduleSchema) });

export interface CreateOptions {
  timezone?: string;
  name?: string;
  overlap?: "skip" | "allow";
  paused?: boolean;
}

/** POST /schedules' body for `crane schedules create <cron> <prompt>`. */
export const createBody = (cron: string, prompt: string, o: CreateOptions) => ({
  cron,
  prompt,
  ...(o.timezone ? { timezone: o.timezone } : {}),
  ...(o.name ? { name: o.name } : {}),
  ...(o.overlap ? { overlap: o.overlap } : {}),
  ...(o.paused ? { paused: true } : {}),
});

const parse = <S extends z.ZodType>(schema: S, data: unknown): z.output<S> => schema.parse(data);
const path = (id: string) => `/schedules/${encodeURIComponent(id)}`;

export const scheduleApi = (client: CraneClient) => ({
  list: async () => parse(listSchema, await client.request("GET", "/schedules")).schedules,
  get: async (id: string) => parse(scheduleSchema, await client.request("GET", path(id))),
  create: async (body: ReturnType<typeof createBody>) => parse(scheduleSchema, await client.request("POST", "/schedules", body)),
  setPaused: async (id: string, paused: boolean) => parse(scheduleSchema, await client.request("PATCH", path(id), { paused })),
  trigger: async (id: string) => z.looseObject({ run_id: z.string(), status: z.string() }).parse(await client.request("POST", `${path(id)}/trigger`)),
  remove: (id: string) => client.request<unknown>("DELETE", path(id)),
});

const when = (s: Schedule, c: Palette) => (s.paused ? c.yellow("paused") : (s.next_run_at ?? c.dim("never")));

/** The table `crane schedules list` prints. */
export function scheduleTableLines(schedules: Schedule[], c: Palette): string[] {
  if (schedules.length === 0) return [c.dim(`no schedules yet; try: crane schedules create "0 9 * * 1-5" "fetch the status page"`)];
  const id = Math.max(8, ...schedules.map((s) => s.schedule_id.length));
  const cron = Math.max(4, ...schedules.map((s) => `${s.cron} ${s.timezone}`.length));
  return [
    c.dim(`${"SCHEDULE".padEnd(id)}  ${"CRON".padEnd(cron)}  ${"NEXT RUN".padEnd(24)}  WHAT`),
    ...schedules.map(
      (s) =>
        `${s.schedule_id.padEnd(id)}  ${`${s.cron} ${s.timezone}`.padEnd(cron)}  ${when(s, c).padEnd(24)}  ${s.name ?? s.prompt ?? c.dim("(explicit plan)")}`,
    ),
  ];
}

/** One schedule with its recent occurrences, for `get`, `create`, `pause` and `resume`. */
export function scheduleLines(s: Schedule, c: Palette): string[] {
  const lines = [
    `schedule ${s.schedule_id}${s.name ? ` (${s.name})` : ""}`,
    `  cron      ${s.cron}  ${c.dim(s.timezone)}`,
    `  runs      ${s.prompt ?? c.dim("(explicit plan)")}`,
    `  next run  ${when(s, c)}`,
  ];
  const recent = s.recent_runs ?? [];
  if (recent.length) {
    lines.push("  recent");
    for (const r of recent) {
      const status = r.status === "completed" ? c.green(r.status) : r.status === "failed" ? c.red(r.status) : r.run_id ? r.status : c.yellow(r.status);
      lines.push(`    ${r.scheduled_for}  ${status.padEnd(9)} ${r.run_id ?? ""}${r.manual ? c.dim(" (manual)") : ""}`);
    }
  }
  return lines;
}

function overlapOption(raw: string): "skip" | "allow" {
  if (raw !== "skip" && raw !== "allow") throw new InvalidArgumentError('Give "skip" or "allow".');
  return raw;
}

export interface ScheduleCommandIO {
  client: () => CraneClient;
  json: () => boolean;
  print: (line: string) => void;
  palette: Palette;
}

/** Adds `crane schedules …` to the program. */
export function addScheduleCommands(program: Command, io: ScheduleCommandIO): void {
  const api = () => scheduleApi(io.client());
  const show = (value: unknown, lines: () => string[]) => (io.json() ? io.print(JSON.stringify(value, null, 2)) : lines().forEach(io.print));
  const schedules = program.command("schedules").description("runs started by cron: list, create, get, pause, resume, trigger, delete");

  schedules
    .command("list", { isDefault: true })
    .description("the tenant's schedules with their next run")
    .action(async () => {
      const all = await api().list();
      show(all, () => scheduleTableLines(all, io.palette));
    });

  schedules
    .command("create")
    .description("run a prompt on a cron: five fields, or six with seconds first")
    .argument("<cron>", 'when, e.g. "0 9 * * 1-5" (9:00 on weekdays) or "*/10 * * * * *" (every 10 s)')
    .argument("<prompt>", "the task, in plain words")
    .option("-z, --timezone <zone>", "IANA time zone the cron is read in (default UTC)")
    .option("-n, --name <name>", "what it is for")
    .option("-o, --overlap <policy>", "skip (default) or allow a run while the previous one is going", overlapOption)
    .option("--paused", "create it paused")
    .action(async (cron: string, prompt: string, opts: CreateOptions) => {
      const s = await api().create(createBody(cron, prompt, opts));
      show(s, () => scheduleLines(s, io.palette));
    });

  schedules
    .command("get")
    .description("a schedule and its recent runs")
    .argument("<schedule_id>")
    .action(async (id: string) => {
      const s = await api().get(id);
      show(s, () => scheduleLines(s, io.palette));
    });

  for (const [name, paused] of [
    ["pause", true],
    ["resume", false],
  ] as const)
    schedules
      .command(name)
      .description(paused ? "stop starting runs until resumed" : "start runs again, from the next occurrence")
      .argument("<schedule_id>")
      .action(async (id: string) => {
        const s = await api().setPaused(id, paused);
        show(s, () => scheduleLines(s, io.palette));
      });

  schedules
    .command("trigger")
    .description("run it now")
    .argument("<schedule_id>")
    .action(async (id: string) => {
      const run = await api().trigger(id);
      show(run, () => [`started ${run.run_id} (${run.status}); follow it: crane watch ${run.run_id}`]);
    });

  schedules
    .command("delete")
    .description("delete it (runs it started go on)")
    .argument("<schedule_id>")
    .action(async (id: string) => {
      await api().remove(id);
      show({ schedule_id: id, deleted: true }, () => [io.palette.dim(`deleted ${id}`)]);
    });
}
