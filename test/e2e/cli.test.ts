import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, describe, expect, inject, it } from "vitest";
import { expectConformingTraffic } from "./conformance.ts";

// The CLI against a real `wrangler dev`, as a user runs it.
const url = inject("craneUrl");
const run = promisify(execFile);

// What the CLI was answered is what the OpenAPI document promises (the proxy checked each answer).
afterAll(() => expectConformingTraffic(20));

async function crane(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return craneWith({ CRANE_API_KEY: "crane_dev_key" }, ...args);
}

async function craneWith(vars: Record<string, string>, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const env = { ...process.env, ...vars };
    if (!("CRANE_API_KEY" in vars)) delete env.CRANE_API_KEY;
    const { stdout, stderr } = await run(process.execPath, ["bin/crane.js", "--url", url, ...args], { timeout: 60_000, env });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe("crane CLI", () => {
  it("runs a prompt and follows each step live, exiting 0 when it completes", async () => {
    const r = await crane("run", "calculate 2 + 3 and calculate 4 * 5, then list my todos", "--follow");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^run_[0-9a-f]{32}/);
    expect(r.stdout).toMatch(/✓ step 1 Calculator\.evaluate \d+ ms/);
    expect(r.stdout).toMatch(/✓ step 3 TodoStore\.list/);
    expect(r.stdout).toContain("[########################] 3/3");
    expect(r.stdout).toContain("run completed");
  });

  it("exits non-zero when the run fails", async () => {
    const r = await crane("run", "calculate 1 / 0", "--follow");
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/✗ step 1 Calculator\.evaluate.*Division by zero/);
    expect(r.stdout).toContain("run failed");
  });

  it("prints JSON events with --json --follow", async () => {
    const r = await crane("--json", "run", "calculate 6 * 7", "--follow");
    expect(r.code).toBe(0);
    const events = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { seq: number; type: string; data: { result?: unknown } });
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(events.at(-1)).toMatchObject({ type: "run.completed", data: { result: 42 } });
  });

  it("gets, watches and lists runs, and lists tools", async () => {
    const submitted = await crane("--json", "run", "calculate 10 - 3");
    const { run_id } = JSON.parse(submitted.stdout) as { run_id: string };
    const watched = await crane("watch", run_id);
    expect(watched.code).toBe(0);
    expect(watched.stdout).toContain("run completed: 7");
    const got = await crane("get", run_id);
    expect(got.stdout).toContain(`${run_id}  completed`);
    expect(got.stdout).toContain("result: 7");
    const listed = await crane("list", "--status", "completed");
    expect(listed.stdout).toContain(run_id);
    const tools = await crane("--json", "tools");
    expect((JSON.parse(tools.stdout) as { name: string }[]).map((t) => t.name)).toContain("Http.get");
  });

  it("previews a plan, cancels and resumes a run", async () => {
    const plan = await crane("plan", "calculate 1 + 1 and wait 30 seconds");
    expect(plan.code).toBe(0);
    expect(plan.stdout.split("\n").slice(0, 3)).toEqual([
      expect.stringMatching(/^plan: 2 steps/),
      expect.stringMatching(/^ {2}1\. Calculator\.evaluate +\{"expression":"1 \+ 1"\}$/),
      expect.stringMatching(/^ {2}2\. Wait\.sleep +\{"seconds":30\}$/),
    ]);
    const submitted = await crane("--json", "run", "wait 30 seconds then calculate 1 + 1", "--wait", "0");
    const { run_id } = JSON.parse(submitted.stdout) as { run_id: string };
    const cancelled = await crane("cancel", run_id);
    expect(cancelled.code).toBe(0);
    expect(cancelled.stdout).toContain(`${run_id}  cancelled`);
    const resumed = await crane("resume", run_id);
    expect(resumed.stdout).toContain(`${run_id}  running`);
    expect((await crane("cancel", run_id)).code).toBe(0);
    // Cancelling it again: the server's 409, exit 2.
    const again = await crane("cancel", run_id);
    expect(again.code).toBe(2);
  });

  it("lists runs under column headers, says how to get more, and shows a 400's details", async () => {
    const listed = await crane("list", "--limit", "1");
    expect(listed.stdout.split("\n")[0]).toMatch(/^RUN +STATUS +CREATED +PROMPT$/);
    expect(listed.stdout).toMatch(/more runs: crane list --cursor \S+/);
    const bad = await crane("list", "--status", "bogus");
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/status: .*completed/); // the allowed values, from the server's details
  });

  it("reruns an ended run from a step with a changed input; the steps before it are reused", async () => {
    const submitted = await crane("--json", "run", "calculate 2 + 3, then calculate 4 * 5");
    const { run_id } = JSON.parse(submitted.stdout) as { run_id: string };
    expect((await crane("watch", run_id)).code).toBe(0);
    const rerun = await crane("--json", "rerun", run_id, "--from", "2", "--input", '{"expression": "6 * 7"}');
    expect(rerun.code, rerun.stderr).toBe(0);
    const fork = JSON.parse(rerun.stdout) as { run_id: string; rerun_of: string; status: string; result: unknown; execution_log: { attempts: number }[] };
    expect(fork).toMatchObject({ rerun_of: run_id, status: "completed", result: 42 });
    expect(fork.execution_log.map((s) => s.attempts)).toEqual([0, 1]);
    const bad = await crane("rerun", run_id, "--from", "9");
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("invalid_from_step");
    expect((await crane("rerun", run_id, "--from", "1", "--input", "[1]")).code).not.toBe(0);
  });

  it("shows examples and exit codes in --help", async () => {
    const help = await crane("--help");
    expect(help.stdout).toContain('crane plan "add a todo to buy milk, then list my todos"');
    expect(help.stdout).toContain("3 gave up reconnecting");
    expect(help.stdout).toMatch(/cancel \[options\] <run_id>|cancel <run_id>/);
  });

  it("prints a list of todos as a table", async () => {
    await crane("run", "add a todo to buy a table lamp");
    const r = await crane("run", "list my todos");
    expect(r.stdout).toMatch(/^result:\n {2}ID +STATUS +TITLE$/m);
    expect(r.stdout).toMatch(/^ {2}\d+ +open +buy a table lamp$/m);
  });

  it("reports API errors on stderr with exit code 2", async () => {
    const r = await crane("run", "what is the meaning of life");
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unplannable_prompt");
    const unreachable = await run(process.execPath, ["bin/crane.js", "--url", "http://127.0.0.1:9", "tools"]).catch((e: { code: number; stderr: string }) => e);
    expect((unreachable as { code: number }).code).toBe(2);
    expect((unreachable as { stderr: string }).stderr).toContain("Cannot reach Crane");
  });

  it("approves a waiting step and sends a signal, and watch shows what the run waited for", async () => {
    const res = await fetch(`${url}/api/v1/runs`, {
      method: "POST",
      headers: { authorization: "Bearer crane_dev_key", "content-type": "application/json" },
      body: JSON.stringify({
        plan: {
          steps: [
            { step_number: 1, tool: "Human.approve", input: { message: "Ship it?" } },
            { step_number: 2, tool: "Wait.signal", input: { name: "shipped" }, depends_on: [1] },
          ],
        },
      }),
    });
    expect(res.status).toBe(201);
    const { run_id } = (await res.json()) as { run_id: string };
    const approved = await crane("approve", run_id, "1", "--comment", "go");
    expect(approved.code).toBe(0);
    expect(approved.stdout).toContain("step 1 approved");
    expect((await crane("approve", run_id, "1")).code).toBe(2); // decided already: the server's 409
    const signalled = await crane("signal", run_id, "shipped", "--payload", '{"tracking": "AB12"}');
    expect(signalled.code).toBe(0);
    expect(signalled.stdout).toContain('signal "shipped" taken by step 2');
    const watched = await crane("watch", run_id);
    expect(watched.code).toBe(0);
    expect(watched.stdout).toContain("waiting for approval: Ship it?");
    expect(watched.stdout).toMatch(/✓ step 1 Human\.approve approved by \S+: go/);
    expect(watched.stdout).toContain('waiting for signal "shipped"');
    expect(watched.stdout).toContain("run completed");
    expect(watched.stdout).toContain('"tracking": "AB12"');
    expect((await crane("signal", run_id, "x", "--payload", "not json")).code).not.toBe(0);
  });

  it("needs an API key, and says how to give one", async () => {
    const none = await craneWith({}, "tools");
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("missing_api_key");
    expect(none.stderr).toContain("CRANE_API_KEY");
    const wrong = await craneWith({}, "--api-key", "crane_wrong", "list");
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain("invalid_api_key");
  });
});
