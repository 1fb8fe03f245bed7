import { describe, expect, it } from "vitest";
import { CraneClient, CraneError, type EventSocket, type WireEvent } from "../../cli/client.ts";
import { backoffDelay, follow, ReconnectTimeout } from "../../cli/follow.ts";
import { labelled, resultLines } from "../../cli/result-format.ts";
import { watchAndRender } from "../../cli/run-command.ts";

// Following a run through dropped connections, without a server: each connection is scripted
// (events to send, then close or not), and the watch-token request can fail as a server that is
// down does. Time is a counter the fake sleep advances, so no test waits on the wall clock.

let seq = 0;
const ev = (type: string, data: Record<string, unknown> = {}): WireEvent => ({ seq: ++seq, type, at: new Date(0).toISOString(), data });
const runEvents = () => {
  seq = 0;
  return [
    ev("plan.accepted", {
      plan: {
        steps: [
          { step_number: 1, tool: "Wait.sleep" },
          { step_number: 2, tool: "Calculator.evaluate" },
        ],
      },
    }),
    ev("step.started", { step: 1, attempt: 1, input: {} }),
    ev("step.succeeded", { step: 1, attempt: 1, output: null, duration_ms: 1000 }),
    ev("step.started", { step: 2, attempt: 1, input: {} }),
    ev("step.succeeded", { step: 2, attempt: 1, output: 4, duration_ms: 1 }),
    ev("run.completed", { result: 4 }),
  ];
};

/** A server whose n-th connection sends events (after the `after` it was asked for) up to `cut`, then drops. */
function flakyServer(events: WireEvent[], script: { cut?: number; down?: number }[]) {
  const sockets: string[] = [];
  let tokenRequests = 0;
  let downLeft = 0;
  let conn = 0;
  const fetch: typeof globalThis.fetch = async (input) => {
    tokenRequests += 1;
    if (downLeft > 0) {
      downLeft -= 1;
      throw new TypeError("fetch failed: ECONNREFUSED");
    }
    void input;
    return new Response(JSON.stringify({ token: `wt_${tokenRequests}` }), { status: 201, headers: { "content-type": "application/json" } });
  };
  const openSocket = (url: string): EventSocket => {
    sockets.push(url);
    const after = Number(new URL(url).searchParams.get("after"));
    const step = script[conn++] ?? {};
    const listeners: Record<string, ((m: { data: unknown }) => void)[]> = {};
    const emit = (type: string, data?: unknown) => listeners[type]?.forEach((l) => l({ data }));
    setTimeout(() => {
      emit("open");
      for (const e of events.filter((x) => x.seq > after && (step.cut === undefined || x.seq <= step.cut))) emit("message", JSON.stringify(e));
      if (step.cut !== undefined) {
        downLeft = step.down ?? 0;
        emit("error");
        emit("close");
      }
    }, 0);
    return { addEventListener: (type: string, l: (m: { data: unknown }) => void) => void (listeners[type] ??= []).push(l), close: () => {} };
  };
  return { client: new CraneClient({ url: "http://crane.test", apiKey: "k", fetch, openSocket }), sockets, tokenRequests: () => tokenRequests };
}

const fakeTime = () => {
  let t = 0;
  const slept: number[] = [];
  return { now: () => t, sleep: async (ms: number) => void (slept.push(ms), (t += ms)), slept };
};

describe("following a run through dropped connections", () => {
  it("resumes after the last seq seen with a fresh token, so every event arrives once, in order", async () => {
    const events = runEvents();
    const server = flakyServer(events, [{ cut: 2, down: 3 }, { cut: 4 }, {}]);
    const time = fakeTime();
    const seen: number[] = [];
    let lost = 0;
    let back = 0;
    const status = await follow(server.client, "run_x", (e) => seen.push(e.seq), { ...time, onLost: () => lost++, onBack: () => back++ });
    expect(status).toBe("completed");
    expect(seen).toEqual([1, 2, 3, 4, 5, 6]);
    expect(server.sockets.map((u) => new URL(u).searchParams.get("after"))).toEqual(["0", "2", "4"]);
    // One token per try: three refused while the server was down, one per socket.
    expect(server.tokenRequests()).toBe(6);
    expect(new Set(server.sockets.map((u) => new URL(u).searchParams.get("token"))).size).toBe(3);
    expect([lost, back]).toEqual([2, 2]);
  });

  it("backs off exponentially with jitter, capped at 10 s", () => {
    expect([0, 1, 2, 3].map((n) => backoffDelay(n, () => 0))).toEqual([125, 250, 500, 1000]);
    expect([0, 1, 2, 3].map((n) => backoffDelay(n, () => 1))).toEqual([250, 500, 1000, 2000]);
    expect(backoffDelay(30, () => 1)).toBe(10_000);
    expect(backoffDelay(30, () => 0)).toBe(5_000);
  });

  it("gives up after the reconnect timeout with exit code 3 and the exact command to pick the run up", async () => {
    const events = runEvents();
    const server = flakyServer(events, [{ cut: 3, down: Number.POSITIVE_INFINITY }]);
    const time = fakeTime();
    const out: string[] = [];
    const warned: string[] = [];
    const code = await watchAndRender(
      "run_x",
      false,
      {
        client: server.client,
        write: (t) => void out.push(t),
        warn: (t) => void warned.push(t),
        progress: { tty: false },
        resumeCommand: (id) => `crane watch ${id} --url http://crane.test`,
        follow: (id, onEvent, opts) => follow(server.client, id, onEvent, { ...opts, ...time }),
      },
      60_000,
    );
    expect(code).toBe(3);
    expect(out.join("")).toContain("connection lost, retrying… (the run continues on the server)");
    expect(out.join("").match(/connection lost/g)).toHaveLength(1);
    expect(warned.join("")).toContain("Pick it up again with:\n  crane watch run_x --url http://crane.test\n");
    expect(warned.join("")).toContain("for 1 min 0 s; the run continues on the server");
    // It kept trying for the whole minute and no longer.
    expect(time.now()).toBe(60_000);
    expect(time.slept.length).toBeGreaterThan(5);
  });

  it("says how long it tried in the unit it was given: --reconnect-timeout 5 is 5 s, not 0.1 min", async () => {
    const server = flakyServer(runEvents(), [{ cut: 1, down: Number.POSITIVE_INFINITY }]);
    const err = await follow(server.client, "run_x", () => {}, { ...fakeTime(), reconnectTimeoutMs: 5_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ReconnectTimeout);
    expect((err as Error).message).toBe("Could not reach run run_x at http://crane.test for 5 s; the run continues on the server.");
  });

  it("stops at once on a refusal another try cannot fix", async () => {
    const fetch: typeof globalThis.fetch = async () =>
      new Response(JSON.stringify({ error: { code: "run_not_found", message: "No run." } }), { status: 404, headers: { "content-type": "application/json" } });
    const client = new CraneClient({ url: "http://crane.test", apiKey: "k", fetch });
    const err = await follow(client, "run_x", () => {}, fakeTime()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CraneError);
    expect(err).not.toBeInstanceOf(ReconnectTimeout);
    expect((err as CraneError).code).toBe("run_not_found");
  });
});

describe("results as a person reads them", () => {
  it("prints numbers as numbers and text as text", () => {
    expect(labelled("result", 42)).toBe("result: 42");
    expect(labelled("result", "done")).toBe("result: done");
  });

  it("prints todos as a table", () => {
    const todos = [
      { id: 1, title: "buy milk", status: "open" },
      { id: 12, title: "pay rent", status: "done" },
    ];
    expect(resultLines({ todos, count: 2 })).toEqual(["ID  STATUS  TITLE", "1   open    buy milk", "12  done    pay rent"]);
    expect(labelled("run completed", { todo: todos[0] })).toBe("run completed:\n  ID  STATUS  TITLE\n  1   open    buy milk");
  });

  it("pretty-prints other objects and cuts long ones with how much is left", () => {
    const big = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`k${i}`, i]));
    const lines = resultLines(big);
    expect(lines[0]).toBe("{");
    expect(lines[1]).toBe('  "k0": 0,');
    expect(lines.at(-1)).toBe("… (20 more lines; --json shows all)");
    expect(lines).toHaveLength(13);
  });
});
