import { describe, expect, it } from "vitest";
import { CraneClient, type EventSocket, type WireEvent } from "../../cli/client.ts";
import { RunProgress } from "../../cli/render.ts";
import { parseWait, runCommand } from "../../cli/run-command.ts";
import { screen } from "./terminal-screen.ts";

// The CLI's rendering and its `?wait` decision, without a server: events are made up here, and
// the client gets a fake fetch and a fake WebSocket.

const T0 = Date.parse("2030-01-01T12:00:00Z");
let seq = 0;
const ev = (type: string, data: Record<string, unknown>, atMs = T0): WireEvent => ({ seq: ++seq, type, at: new Date(atMs).toISOString(), data });
const plan = ev("plan.accepted", {
  plan: {
    steps: [
      { step_number: 1, tool: "Calculator.evaluate" },
      { step_number: 2, tool: "Http.get" },
      { step_number: 3, tool: "TodoStore.list" },
    ],
  },
});
const unavailable = { code: "tool_unavailable", message: "Http.get is temporarily unavailable; retrying after …" };
/** The breaker loop as the server emits it: the step is dispatched again, then turned away again. */
const deferral = (i: number) => [
  ev("step.started", { step: 2, attempt: 1, input: {}, lease_until: T0 + i * 5000 + 95_000, executor: "queue" }, T0 + i * 5000),
  ev("step.deferred", { step: 2, attempt: 1, error: unavailable, retry_at: T0 + (i + 1) * 5000 }, T0 + i * 5000),
];
const fiveDeferrals = [0, 1, 2, 3, 4].flatMap(deferral);
/** The breaker let the step through at last, and it succeeded: that ends the wait. */
const started = ev("step.succeeded", { step: 2, attempt: 1, output: { status: 200 }, duration_ms: 40 }, T0 + 25_000);

/** Lines about step 2's wait: its first dispatch ("▶ step 2 … attempt 1") prints before the wait begins. */
const isFold = (l: string) => l.includes("step 2") && !/^▶ step 2/.test(l);

const feed = (p: RunProgress, events: WireEvent[]) => events.map((e) => p.apply(e)).join("");
const lines = (text: string) => text.split("\n").filter((l) => l !== "");

describe("folding step.deferred on a terminal", () => {
  it("keeps five deferrals of one step on one line that counts them, rewritten in place", () => {
    const p = new RunProgress({ tty: true, color: false, columns: 200 });
    const out = feed(p, [plan, ...fiveDeferrals]);
    const shown = screen(out).filter(isFold);
    expect(shown).toHaveLength(1);
    expect(shown[0]).toMatch(/^⏸ step 2 Http\.get waiting for its breaker \(deferred 5×, next try \d\d:\d\d:\d\d\)/);
    expect(out).toContain("\x1b[1A\r\x1b[J"); // the line was rewritten, not printed again
  });

  it("turns the line into a summary when the step ends, and prints its outcome below it", () => {
    const p = new RunProgress({ tty: true, color: false, columns: 200 });
    const rows = screen(feed(p, [plan, ...fiveDeferrals, started]));
    expect(rows.filter(isFold)).toEqual([
      expect.stringMatching(/^⏸ step 2 Http\.get waited for its breaker \(deferred 5× over 25 s\)/),
      expect.stringMatching(/^✓ step 2 Http\.get/),
    ]);
    // Later deferrals of the same step start a new fold.
    const again = screen(feed(p, deferral(6)));
    expect(again.filter((l) => l.includes("deferred 1×"))).toHaveLength(1);
  });

  it("keeps the folded line below lines other steps print meanwhile", () => {
    const p = new RunProgress({ tty: true, color: false, columns: 200 });
    const other = [ev("step.started", { step: 1, attempt: 1, input: {} }), ev("step.succeeded", { step: 1, attempt: 1, output: 5, duration_ms: 3 })];
    const rows = screen(feed(p, [plan, ...deferral(0), other[0]!, ...deferral(1), other[1]!, ...deferral(2)]));
    expect(rows.filter(isFold)).toHaveLength(1);
    expect(rows.at(-1)).toMatch(/^⏸ step 2 Http\.get waiting for its breaker \(deferred 3×/);
    expect(rows.slice(-3, -1)).toEqual([expect.stringMatching(/^▶ step 1 /), expect.stringMatching(/^✓ step 1 Calculator\.evaluate 3 ms/)]);
  });

  it("counts a wrapped line's rows when it moves back up", () => {
    const p = new RunProgress({ tty: true, color: false, columns: 20 });
    const out = feed(p, [plan, ...deferral(0), ...deferral(1)]);
    expect(out).toMatch(/\x1b\[[4-9]A/); // the ~90-character line took several 20-column rows
  });
});

describe("folding step.deferred in a file or pipe", () => {
  it("prints the first deferral once, then a summary with the count when the step ends", () => {
    const p = new RunProgress({ tty: false });
    const during = lines(feed(p, [plan, ...fiveDeferrals]));
    expect(during.filter(isFold)).toEqual([expect.stringMatching(/^⏸ step 2 Http\.get waiting for its breaker \(deferred 1×, next try \d\d:\d\d:\d\d\)/)]);
    const after = lines(p.apply(started));
    expect(after).toEqual([
      expect.stringMatching(/^⏸ step 2 Http\.get waited for its breaker \(deferred 5× over 25 s\)/),
      expect.stringMatching(/^✓ step 2 Http\.get/),
    ]);
    expect(`${during.join("\n")}\n${after.join("\n")}`).not.toMatch(/\x1b/); // no control sequences
  });

  it("needs no summary after a single deferral", () => {
    const p = new RunProgress({ tty: false });
    const out = lines(feed(p, [plan, ...deferral(0), started]));
    expect(out.filter(isFold)).toEqual([expect.stringMatching(/deferred 1×/), expect.stringMatching(/^✓ step 2/)]);
  });

  it("summarises a fold the run ends in", () => {
    const p = new RunProgress({ tty: false });
    feed(p, [plan, ...deferral(0), ...deferral(1)]);
    expect(lines(p.apply(ev("run.cancelled", { reason: "user" }, T0 + 10_000)))).toEqual([expect.stringMatching(/deferred 2× over 10 s/), "run cancelled"]);
  });
});

describe("compensation in --follow", () => {
  it("says what is undone, newest first, each undo's outcome, and how compensation ended", () => {
    const p = new RunProgress({ tty: false });
    const out = lines(
      feed(p, [
        plan,
        ev("step.failed", { step: 3, attempt: 1, error: { code: "upstream_rejected", message: "404" } }),
        ev("compensation.started", {
          reason: "run_failed",
          steps: [
            { step: 2, tool: "TodoStore.delete", input: {} },
            { step: 1, tool: "TodoStore.reopen", input: {} },
          ],
        }),
        ev("step.compensation_failed", { step: 2, attempt: 1, error: { code: "upstream_error", message: "502" }, retry_at: T0 + 500 }),
        ev("step.compensated", { step: 2, attempt: 2, output: {}, duration_ms: 4 }),
        ev("step.compensation_failed", { step: 1, attempt: 1, error: { code: "todo_not_found", message: "Todo 7 was deleted." } }),
        ev("compensation.failed", { steps: [1] }),
      ]),
    );
    expect(out.slice(2)).toEqual([
      "undoing 2 steps, newest first: 2 (TodoStore.delete), 1 (TodoStore.reopen)",
      expect.stringMatching(/step 2 .*undo failed, retrying: 502/),
      expect.stringMatching(/step 2 .*undone/),
      expect.stringMatching(/step 1 .*could not be undone: Todo 7 was deleted\./),
      "not undone: step 1",
    ]);
  });
});

// A run resource as the API answers it.
function run(status: string, steps: { status: string; deferrals?: number }[] = [{ status: "succeeded" }]) {
  const ended = ["completed", "failed", "cancelled"].includes(status);
  return {
    run_id: "run_0123456789abcdef0123456789abcdef",
    status,
    result: status === "completed" ? 5 : null,
    error: status === "failed" ? { code: "tool_error", message: "Step 1 (Calculator.evaluate) failed: Division by zero" } : null,
    execution_log: steps.map((s, i) => ({
      step_number: i + 1,
      tool: "Calculator.evaluate",
      status: s.status,
      attempts: s.status === "pending" ? 0 : 1,
      duration_ms: s.status === "succeeded" ? 4 : null,
      error: s.status === "failed" ? { code: "tool_error", message: "Division by zero" } : null,
      completed_at: ended ? new Date(T0 + i).toISOString() : null,
      ...(s.deferrals !== undefined ? { deferrals: s.deferrals } : {}),
    })),
  };
}

/** A fake Crane: answers POST /runs with `created`, hands out watch tokens, serves events. */
function fakeCrane(created: { status: number; body: unknown }, wsEvents: WireEvent[] = []) {
  const requests: string[] = [];
  const sockets: string[] = [];
  const json = (status: number, body: unknown) =>
    new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", location: "/api/v1/runs/run_x" } });
  const fetch: typeof globalThis.fetch = async (input, init) => {
    const url = new URL(String(input));
    requests.push(`${init?.method ?? "GET"} ${url.pathname}${url.search}`);
    if (url.pathname === "/api/v1/runs") return json(created.status, created.body);
    if (url.pathname.endsWith("/watch-token")) return json(201, { token: "wt_1" });
    if (url.pathname.endsWith("/events")) return json(200, { run_id: "run_x", events: wsEvents, next_after: wsEvents.length, has_more: false });
    return json(404, { error: { code: "not_found", message: "no" } });
  };
  const openSocket = (url: string): EventSocket => {
    sockets.push(url);
    const listeners: Record<string, ((m: { data: unknown }) => void)[]> = {};
    setTimeout(() => {
      for (const e of wsEvents) for (const l of listeners.message ?? []) l({ data: JSON.stringify(e) });
      for (const l of listeners.close ?? []) l({ data: undefined }); // the CLI gives up on a socket that closes with nothing
    }, 0);
    return {
      addEventListener: (type: string, l: (m: { data: unknown }) => void) => void (listeners[type] ??= []).push(l),
      close: () => {},
    };
  };
  const out: string[] = [];
  const io = {
    client: new CraneClient({ url: "http://crane.test", apiKey: "k", fetch, openSocket }),
    write: (t: string) => void out.push(t),
    progress: { tty: false },
  };
  return { io, requests, sockets, output: () => out.join("") };
}

const liveEvents = () => {
  seq = 0;
  return [
    ev("plan.accepted", { plan: { steps: [{ step_number: 1, tool: "Calculator.evaluate" }] } }),
    ev("step.started", { step: 1, attempt: 1, input: {} }),
    ev("step.succeeded", { step: 1, attempt: 1, output: 5, duration_ms: 4 }),
    ev("run.completed", { result: 5 }),
  ];
};

describe("steps that wait for someone", () => {
  const approvalPlan = ev("plan.accepted", {
    plan: {
      steps: [
        { step_number: 1, tool: "Human.approve" },
        { step_number: 2, tool: "Wait.signal" },
      ],
    },
  });
  const follow = () => {
    const p = new RunProgress({ tty: false });
    p.runId = "run_x";
    return p;
  };

  it("says what an approval waits for, until when, and the command that decides it", () => {
    const p = follow();
    feed(p, [approvalPlan]);
    const out = lines(p.apply(ev("step.waiting", { step: 1, attempt: 1, input: { message: "Pay invoice 42?" }, kind: "approval", until: T0 + 3_600_000 })));
    expect(out).toEqual([
      expect.stringMatching(/^⏸ step 1 Human\.approve waiting for approval: Pay invoice 42\?, until \d\d:\d\d:\d\d  \[-+\] 0\/2  crane approve run_x 1$/),
    ]);
  });

  it("names the signal a step waits for and how to send it", () => {
    const p = follow();
    feed(p, [approvalPlan]);
    const out = lines(p.apply(ev("step.waiting", { step: 2, attempt: 1, input: { name: "paid" }, kind: "signal", until: T0 + 60_000 })));
    expect(out).toEqual([
      expect.stringMatching(/^⏸ step 2 Wait\.signal waiting for signal "paid", until \d\d:\d\d:\d\d  \[-+\] 0\/2  crane signal run_x paid$/),
    ]);
  });

  it("prints the decision as the step's outcome, and counts it done", () => {
    const p = follow();
    feed(p, [approvalPlan, ev("step.waiting", { step: 1, attempt: 1, input: { message: "ok?" }, kind: "approval", until: T0 + 1000 })]);
    const approved = lines(p.apply(ev("step.decided", { step: 1, attempt: 1, decision: "approve", comment: "fine", decided_by: "key_1" })));
    expect(approved).toEqual([expect.stringMatching(/^✓ step 1 Human\.approve approved by key_1: fine  \[#+-+\] 1\/2$/)]);
    const q = follow();
    feed(q, [approvalPlan]);
    const timedOut = lines(q.apply(ev("step.decided", { step: 1, attempt: 1, decision: "reject", comment: null, decided_by: "timeout", timed_out: true })));
    expect(timedOut).toEqual([expect.stringMatching(/^✗ step 1 Human\.approve rejected at its timeout  /)]);
  });
});

describe("crane run and the server's ?wait", () => {
  it("prints a run that ended within the wait without opening a WebSocket", async () => {
    const crane = fakeCrane({ status: 201, body: run("completed", [{ status: "succeeded", deferrals: 2 }]) });
    const code = await runCommand("calculate 2 + 3", { follow: true, wait: 10, json: false }, crane.io);
    expect(code).toBe(0);
    expect(crane.requests).toEqual(["POST /api/v1/runs?wait=10"]);
    expect(crane.sockets).toEqual([]);
    expect(lines(crane.output())).toEqual([
      expect.stringMatching(/^run_0123456789abcdef0123456789abcdef  1 step$/),
      expect.stringMatching(/^✓ step 1 Calculator\.evaluate 4 ms \(deferred 2×\)  \[#+\] 1\/1$/),
      "run completed: 5",
    ]);
  });

  it("exits 1 for a run that failed within the wait, still without a WebSocket", async () => {
    const crane = fakeCrane({ status: 201, body: run("failed", [{ status: "failed" }]) });
    expect(await runCommand("calculate 1 / 0", { follow: true, wait: 10, json: false }, crane.io)).toBe(1);
    expect(crane.sockets).toEqual([]);
    expect(crane.output()).toMatch(/✗ step 1 Calculator\.evaluate Division by zero/);
    expect(crane.output()).toContain("run failed: Step 1 (Calculator.evaluate) failed: Division by zero");
  });

  it("follows over the WebSocket when the server answers 202 with the run still going", async () => {
    const crane = fakeCrane({ status: 202, body: run("running", [{ status: "running" }]) }, liveEvents());
    expect(await runCommand("calculate 2 + 3", { follow: true, wait: 10, json: false }, crane.io)).toBe(0);
    expect(crane.requests).toEqual(["POST /api/v1/runs?wait=10", "POST /api/v1/runs/run_0123456789abcdef0123456789abcdef/watch-token"]);
    expect(crane.sockets).toEqual(["ws://crane.test/api/v1/runs/run_0123456789abcdef0123456789abcdef/ws?after=0&token=wt_1"]);
    expect(crane.output()).toMatch(/✓ step 1 Calculator\.evaluate 4 ms/);
    expect(crane.output()).toContain("run completed: 5");
  });

  it("follows over the WebSocket when an older server ignores ?wait and answers 201 pending", async () => {
    const crane = fakeCrane({ status: 201, body: run("pending", [{ status: "pending" }]) }, liveEvents());
    expect(await runCommand("calculate 2 + 3", { follow: true, wait: 10, json: false }, crane.io)).toBe(0);
    expect(crane.sockets).toHaveLength(1);
  });

  it("sends no ?wait with --wait 0, and without --follow prints the run as it stands", async () => {
    const crane = fakeCrane({ status: 201, body: run("pending", [{ status: "pending" }]) });
    expect(await runCommand("calculate 2 + 3", { follow: false, wait: 0, json: false }, crane.io)).toBe(0);
    expect(crane.requests).toEqual(["POST /api/v1/runs"]);
    expect(crane.sockets).toEqual([]);
    expect(lines(crane.output())[0]).toBe("run_0123456789abcdef0123456789abcdef  pending");
  });

  it("with --json --follow, reads an ended run's events over HTTP instead of a WebSocket", async () => {
    const events = liveEvents();
    const crane = fakeCrane({ status: 200, body: run("completed") }, events);
    expect(await runCommand("calculate 2 + 3", { follow: true, wait: 5, json: true }, crane.io)).toBe(0);
    expect(crane.sockets).toEqual([]);
    expect(lines(crane.output()).map((l) => (JSON.parse(l) as WireEvent).type)).toEqual(events.map((e) => e.type));
  });

  it("accepts --wait from 0 to 30 seconds", () => {
    expect(["0", "10", "2.5", "30"].map(parseWait)).toEqual([0, 10, 2.5, 30]);
    expect(["", "-1", "31", "ten", "Infinity"].map(parseWait)).toEqual([undefined, undefined, undefined, undefined, undefined]);
  });
});

describe("child runs in --follow", () => {
  it("names a Run.start step's child, how to follow it, and its end", () => {
    const p = new RunProgress({ tty: false });
    feed(p, [ev("plan.accepted", { plan: { steps: [{ step_number: 1, tool: "Run.start" }] } })]);
    const begun = lines(p.apply(ev("child.started", { step: 1, run_id: "run_child", wait: true, status: "running" })));
    expect(begun).toEqual([expect.stringMatching(/^▶ step 1 Run\.start child run run_child started, waiting for it .*crane watch run_child$/)]);
    const ended = lines(p.apply(ev("child.ended", { step: 1, run_id: "run_child", status: "completed" })));
    expect(ended).toEqual([expect.stringMatching(/^▶ step 1 Run\.start child run run_child ended completed/)]);
  });
});
