import { describe, expect, it } from "vitest";
import type { Run, WireEvent } from "../../cli/client.ts";
import { palette } from "../../cli/palette.ts";
import { endedRunLines, RunProgress } from "../../cli/render.ts";
import { screen } from "./terminal-screen.ts";

// An Agent.run step followed in the CLI: the model's streamed text (llm.delta) and each tool call
// as one line, rewritten in place on a terminal, printed once in a file or pipe. Events are made up
// here in the shapes src/durable/run/domain/events.ts defines.

let seq = 0;
const ev = (type: string, data: Record<string, unknown>): WireEvent => ({ seq: ++seq, type, at: "2030-01-01T12:00:00.000Z", data });
const plan = ev("plan.accepted", { plan: { steps: [{ step_number: 1, tool: "Agent.run" }] } });
const usage = { input_tokens: 120, output_tokens: 9 };

/** Turn 1: the model streams two lines of text in three deltas, then asks for two calls. */
const turnOne = [
  ev("agent.turn_started", { step: 1, turn: 1 }),
  ev("llm.call_started", { step: 1, turn: 1, attempt: 1, model: "m", max_tokens: 100, prompt_bytes: 10, lease_until: 0 }),
  ev("llm.delta", { step: 1, turn: 1, attempt: 1, text: "Let me fetch " }),
  ev("llm.delta", { step: 1, turn: 1, attempt: 1, text: "both pages.\nThen I com" }),
];
const turnOneEnd = [
  ev("llm.call_succeeded", {
    step: 1,
    turn: 1,
    attempt: 1,
    text: "Let me fetch both pages.\nThen I compare them.",
    tool_calls: [],
    usage,
    cost_usd: 0,
    finish_reason: "tool_calls",
    duration_ms: 50,
  }),
  ev("agent.call_started", { step: 1, turn: 1, call: 1, attempt: 1, tool: "Http.get", input: { url: "https://a.example/" }, executor: "queue" }),
  ev("agent.call_started", { step: 1, turn: 1, call: 2, attempt: 1, tool: "Http.get", input: { url: "https://b.example/" }, executor: "queue" }),
];
const callTwoRetry = ev("agent.call_failed", { step: 1, call: 2, attempt: 1, error: { code: "upstream_error", message: "502 from b.example" }, retry_at: 1 });
const callOneDone = ev("agent.call_succeeded", { step: 1, call: 1, attempt: 1, output: { status: 200 }, duration_ms: 40 });
const callTwoFailed = ev("agent.call_failed", { step: 1, call: 2, attempt: 2, error: { code: "upstream_error", message: "502 from b.example" } });

describe("an agent step followed on a terminal", () => {
  it("streams the model's text, a line at a time, with the line being written shown live", () => {
    const p = new RunProgress({ tty: true, color: false, columns: 200 });
    let out = "";
    for (const e of [plan, ...turnOne]) out += p.apply(e);
    // The first line is complete and printed; the second is still being written, shown as far as it goes.
    expect(screen(out).slice(-2)).toEqual(["    Let me fetch both pages.", "    Then I com"]);
    out += p.apply(turnOneEnd[0]!);
    // The answer carries the whole text: the rest of the line is printed once, not the line again.
    const shown = screen(out);
    expect(shown.filter((l) => l.includes("Then I compare them."))).toEqual(["    Then I compare them."]);
    expect(shown.filter((l) => l.includes("Let me fetch"))).toHaveLength(1);
    expect(shown.at(-1)).toBe("    (120 tokens in, 9 out)");
  });

  it("shows each tool call as one line that changes in place, and keeps the ended ones", () => {
    const p = new RunProgress({ tty: true, color: false, columns: 200 });
    let out = "";
    for (const e of [plan, ...turnOne, ...turnOneEnd]) out += p.apply(e);
    expect(screen(out).slice(-2)).toEqual([
      '    ▶ call 1 Http.get {"url":"https://a.example/"} running',
      '    ▶ call 2 Http.get {"url":"https://b.example/"} running',
    ]);
    out += p.apply(callTwoRetry);
    out += p.apply(callOneDone);
    let shown = screen(out);
    // Call 1 ended: printed for good; call 2 is still one line, now saying it retries.
    expect(shown.filter((l) => l.includes("call 1"))).toEqual(['    ✓ call 1 Http.get {"url":"https://a.example/"} 40 ms']);
    expect(shown.filter((l) => l.includes("call 2"))).toEqual(['    ↻ call 2 Http.get {"url":"https://b.example/"} failed, retrying: 502 from b.example']);
    out += p.apply(callTwoFailed);
    shown = screen(out);
    expect(shown.filter((l) => l.includes("call 2"))).toEqual(['    ✗ call 2 Http.get {"url":"https://b.example/"} 502 from b.example (told to the model)']);
  });

  it("shows a waiting call with the command that decides it, then the decision", () => {
    const p = new RunProgress({ tty: true, color: false, columns: 200 });
    p.runId = "run_x";
    let out = p.apply(plan);
    out += p.apply(ev("agent.call_waiting", { step: 1, turn: 1, call: 3, tool: "TodoStore.add", input: { title: "buy milk" } }));
    expect(screen(out).at(-1)).toBe('    ⏸ call 3 TodoStore.add {"title":"buy milk"} waiting for approval  crane approve run_x 1 --call 3');
    out += p.apply(ev("agent.call_decided", { step: 1, call: 3, decision: "reject", comment: "not now", decided_by: "key_1" }));
    expect(screen(out).filter((l) => l.includes("call 3"))).toEqual(['    ✗ call 3 TodoStore.add {"title":"buy milk"} rejected by key_1: not now']);
  });
});

describe("an agent step followed into a file or pipe", () => {
  it("prints whole lines of text and one line per call, with no cursor movement", () => {
    const p = new RunProgress({ tty: false });
    const out = [plan, ...turnOne, ...turnOneEnd, callTwoRetry, callOneDone, callTwoFailed].map((e) => p.apply(e)).join("");
    expect(out).not.toContain("\x1b[");
    expect(out.split("\n").filter((l) => l.startsWith("    "))).toEqual([
      "    Let me fetch both pages.",
      "    Then I compare them.",
      "    (120 tokens in, 9 out)",
      '    ✓ call 1 Http.get {"url":"https://a.example/"} 40 ms',
      '    ✗ call 2 Http.get {"url":"https://b.example/"} 502 from b.example (told to the model)',
    ]);
  });

  it("prints text a lost delta left out, from the answer", () => {
    const p = new RunProgress({ tty: false });
    // The second delta never arrived: the answer's text is not what streamed plus more.
    const out = [plan, turnOne[0]!, turnOne[1]!, turnOne[2]!, turnOneEnd[0]!].map((e) => p.apply(e)).join("");
    expect(out.split("\n").filter((l) => l.startsWith("    ") && !l.includes("tokens"))).toEqual(["    Let me fetch both pages.", "    Then I compare them."]);
  });
});

describe("an agent run that ended before it was followed", () => {
  it("tells its turns from the run resource: text, then a line per call", () => {
    const run: Run = {
      run_id: "run_y",
      status: "completed",
      result: { answer: "done" },
      error: null,
      execution_log: [
        {
          step_number: 1,
          tool: "Agent.run",
          status: "succeeded",
          attempts: 1,
          duration_ms: 90,
          error: null,
          completed_at: "2030-01-01T12:00:01.000Z",
          turns: [
            { turn: 1, text: "", calls: [{ call: 1, tool: "Calculator.evaluate", input: { expression: "2+3" }, status: "succeeded", error: null }] },
            { turn: 2, text: "It is 5.", calls: [] },
          ],
        },
      ],
    };
    expect(endedRunLines(run, palette(false)).slice(0, 5)).toEqual([
      "  turn 1",
      '    ✓ call 1 Calculator.evaluate {"expression":"2+3"} succeeded',
      "  turn 2",
      "    It is 5.",
      "✓ step 1 Agent.run 90 ms  [########################] 1/1",
    ]);
  });
});
