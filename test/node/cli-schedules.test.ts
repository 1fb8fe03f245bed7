import { Command } from "commander";
import { describe, expect, it } from "vitest";
import { CraneClient, CraneError } from "../../cli/client.ts";
import { palette } from "../../cli/palette.ts";
import { addScheduleCommands, type Schedule } from "../../cli/schedules.ts";

// `crane schedules …` against a fake fetch: what each command sends, and what it prints.

const plain = palette(false);
const schedule = (over: Partial<Schedule> = {}): Schedule => ({
  schedule_id: "sch_4bf92f3577b34da6a3ce929d0e0e4736",
  name: "status page",
  cron: "0 9 * * 1-5",
  timezone: "Europe/Paris",
  paused: false,
  prompt: "fetch https://status.example.com",
  next_run_at: "2030-01-07T08:00:00.000Z",
  recent_runs: [],
  ...over,
});

interface Sent {
  method: string;
  path: string;
  body: unknown;
}

/** Runs `crane schedules <args>` with a fake server answering `answer(request)`; what was sent and printed. */
async function crane(args: string[], answer: (s: Sent) => { status: number; body?: unknown }, json = false) {
  const sent: Sent[] = [];
  const out: string[] = [];
  const fetch = (async (url: string, init: RequestInit) => {
    const s = { method: init.method ?? "GET", path: new URL(url).pathname.replace("/api/v1", ""), body: init.body ? JSON.parse(String(init.body)) : undefined };
    sent.push(s);
    const a = answer(s);
    return new Response(a.body === undefined ? null : JSON.stringify(a.body), { status: a.status, headers: { "content-type": "application/json" } });
  }) as typeof globalThis.fetch;
  const program = new Command().exitOverride();
  addScheduleCommands(program, {
    client: () => new CraneClient({ url: "http://crane.test", apiKey: "k", fetch }),
    json: () => json,
    print: (l) => out.push(l),
    palette: plain,
  });
  await program.parseAsync(["schedules", ...args], { from: "user" });
  return { sent, out };
}

describe("crane schedules", () => {
  it("lists the tenant's schedules with their next run (the default subcommand)", async () => {
    const paused = schedule({ schedule_id: "sch_0000000000000000000000000000000a", name: null, prompt: null, paused: true, next_run_at: null });
    const { sent, out } = await crane([], () => ({ status: 200, body: { schedules: [schedule(), paused] } }));
    expect(sent).toEqual([{ method: "GET", path: "/schedules", body: undefined }]);
    expect(out[0]).toMatch(/^SCHEDULE\s+CRON\s+NEXT RUN\s+WHAT$/);
    expect(out[1]).toMatch(/^sch_4bf9\S+\s+0 9 \* \* 1-5 Europe\/Paris\s+2030-01-07T08:00:00.000Z\s+status page$/);
    expect(out[2]).toMatch(/\s+paused\s+\(explicit plan\)$/);
  });

  it("says how to make one when there are none", async () => {
    const { out } = await crane(["list"], () => ({ status: 200, body: { schedules: [] } }));
    expect(out).toEqual([`no schedules yet; try: crane schedules create "0 9 * * 1-5" "fetch the status page"`]);
  });

  it("creates one from a cron and a prompt, with its options", async () => {
    const { sent, out } = await crane(
      ["create", "*/10 * * * * *", "calculate 2 + 2", "--timezone", "Europe/Paris", "--name", "demo", "--overlap", "allow", "--paused"],
      () => ({ status: 201, body: schedule({ cron: "*/10 * * * * *", name: "demo", prompt: "calculate 2 + 2", paused: true, next_run_at: null }) }),
    );
    expect(sent).toEqual([
      {
        method: "POST",
        path: "/schedules",
        body: { cron: "*/10 * * * * *", prompt: "calculate 2 + 2", timezone: "Europe/Paris", name: "demo", overlap: "allow", paused: true },
      },
    ]);
    expect(out).toContain("  next run  paused");
    await expect(crane(["create", "* * * * *", "x", "--overlap", "queue"], () => ({ status: 500 }))).rejects.toThrow(/Give "skip" or "allow"/);
  });

  it("pauses, resumes and deletes by id; shows recent runs", async () => {
    const id = schedule().schedule_id;
    const recent = [
      { run_id: "run_1", scheduled_for: "2030-01-07T08:00:00.000Z", status: "completed", manual: false },
      { run_id: null, scheduled_for: "2030-01-06T08:00:00.000Z", status: "skipped", manual: false },
    ];
    const paused = await crane(["pause", id], (s) => ({ status: 200, body: schedule({ paused: s.method === "PATCH", recent_runs: recent }) }));
    expect(paused.sent).toEqual([{ method: "PATCH", path: `/schedules/${id}`, body: { paused: true } }]);
    expect(paused.out).toEqual(
      expect.arrayContaining(["  next run  paused", "  recent", "    2030-01-07T08:00:00.000Z  completed run_1", "    2030-01-06T08:00:00.000Z  skipped   "]),
    );
    const resumed = await crane(["resume", id], () => ({ status: 200, body: schedule() }));
    expect(resumed.sent[0]).toEqual({ method: "PATCH", path: `/schedules/${id}`, body: { paused: false } });
    const deleted = await crane(["delete", id], () => ({ status: 204 }), true);
    expect(deleted.sent).toEqual([{ method: "DELETE", path: `/schedules/${id}`, body: undefined }]);
    expect(JSON.parse(deleted.out.join("\n"))).toEqual({ schedule_id: id, deleted: true });
  });

  it("passes the server's refusal on as a CraneError with its code", async () => {
    const refusal = { error: { code: "invalid_cron", message: '"bad" has 1 fields; use five …' } };
    await expect(crane(["create", "bad", "calculate 1"], () => ({ status: 400, body: refusal }))).rejects.toMatchObject({
      name: "CraneError",
      status: 400,
      code: "invalid_cron",
    } satisfies Partial<CraneError>);
  });
});
