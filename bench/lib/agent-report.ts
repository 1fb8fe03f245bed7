/**
 * The agent workload's part of the report: a table per system and issue 30's targets, each
 * PASS or FAIL from this run's numbers (or "not measured" when a system it needs did not run).
 */
import type { AgentResult, AgentSizes } from "./agent.ts";
import { markdownTable, type Row } from "./report.ts";
import { round } from "./stats.ts";

export interface Target {
  target: string;
  measured: string;
  verdict: "PASS" | "FAIL" | "not measured";
}

const verdict = (ok: boolean | undefined): Target["verdict"] => (ok === undefined ? "not measured" : ok ? "PASS" : "FAIL");

export function agentTargets(results: Record<string, AgentResult>): Target[] {
  const { crane: c, floor: f, workflows: w } = results;
  const ops = c?.operations;
  const ratio = c && f ? round(c.single.wall_ms_median / f.single.wall_ms_median, 2) : undefined;
  return [
    {
      target: "Crane's wall time ≤ 1.1 × the floor's (single runs, median)",
      measured: c && f ? `${c.single.wall_ms_median} ms vs ${f.single.wall_ms_median} ms: ${ratio} ×` : "—",
      verdict: verdict(ratio === undefined ? undefined : ratio <= 1.1),
    },
    {
      target: "Crane's wall time below Workflows' (single runs, median)",
      measured:
        c && w ? `${c.single.wall_ms_median} ms vs ${w.single.wall_ms_median} ms: ${round(c.single.wall_ms_median / w.single.wall_ms_median, 2)} ×` : "—",
      verdict: verdict(c && w ? c.single.wall_ms_median < w.single.wall_ms_median : undefined),
    },
    {
      target: "at most 2 Durable Object requests per turn (run object + tenant limiter + breakers)",
      measured: ops ? `${ops.do_requests_per_turn_with_breakers} (run object alone ${ops.own_requests_per_turn})` : "—",
      verdict: verdict(ops ? ops.do_requests_per_turn_with_breakers <= 2 : undefined),
    },
    {
      target: "1 queue message per model call and per queued tool call",
      measured: ops
        ? `${ops.queue_messages} messages for ${ops.model_calls} model calls + ${ops.tool_calls} tool calls: ${ops.queue_messages_per_queued_call}`
        : "—",
      verdict: verdict(ops ? ops.queue_messages_per_queued_call <= 1 : undefined),
    },
    {
      target: "the burst: all Crane runs complete",
      measured: c ? `${c.burst.completed}/${c.burst.runs}` : "—",
      verdict: verdict(c ? c.burst.completed === c.burst.runs : undefined),
    },
    {
      target: "the burst: Crane's wall time below Workflows'",
      measured: c && w ? `${c.burst.wall_s} s vs ${w.burst.wall_s} s (Workflows completed ${w.burst.completed}/${w.burst.runs})` : "—",
      verdict: verdict(c && w ? c.burst.wall_s < w.burst.wall_s : undefined),
    },
  ];
}

function rows(results: Record<string, AgentResult>): Row[] {
  const systems = Object.keys(results);
  const row = (metric: string, cell: (r: AgentResult) => number | string | undefined): Row => ({
    metric,
    values: Object.fromEntries(systems.map((s) => [s, cell(results[s]!) ?? "—"])),
  });
  const op = (pick: (o: NonNullable<AgentResult["operations"]>) => number | string) => (r: AgentResult) => (r.operations ? pick(r.operations) : undefined);
  return [
    row("single run wall, median (p90, min), ms", (r) => `${r.single.wall_ms_median} (${r.single.wall_ms_p90}, ${r.single.wall_ms_min})`),
    row("single runs failed", (r) => `${r.single.failed}/${r.single.runs}`),
    row("burst completed", (r) => `${r.burst.completed}/${r.burst.runs}${r.burst.errors ? ` (${r.burst.errors} unanswered)` : ""}`),
    row("burst wall (all submitted after), s", (r) => `${r.burst.wall_s} (${r.burst.submit_s})`),
    row("burst submit→done p50, s", (r) => r.burst.done_p50_s),
    row("model calls per run started", (r) => r.model_calls_per_run),
    row(
      "DO requests per run: run object + tenant limiter + breakers",
      op((o) => `${round(o.do_requests - o.shared_requests, 2)} + ${o.shared_requests} + ${o.breaker_requests}`),
    ),
    row(
      "DO requests per turn (run object; all)",
      op((o) => `${o.own_requests_per_turn}; ${o.do_requests_per_turn_with_breakers}`),
    ),
    row(
      "queue messages per run (queued attempts)",
      op((o) => `${o.queue_messages} (${o.queued_attempts})`),
    ),
    row(
      "queue messages per model call + queued tool call",
      op((o) => o.queue_messages_per_queued_call),
    ),
    row(
      "DO rows written per run (with breakers')",
      op((o) => o.storage_rows_written),
    ),
    row("Workflows steps per run", (r) => r.workflow_steps_per_run),
    row("cost per million runs, USD (no logs, CPU, model)", (r) => r.usd_per_million_runs),
  ];
}

export function agentMarkdown(results: Record<string, AgentResult>, s: AgentSizes): string {
  const systems = Object.keys(results);
  const targets = agentTargets(results);
  const critical = (s.turns + 1) * s.modelMs + s.turns * s.toolMs;
  return `## Agent loop (issue 30)

The loop: ${s.turns} turns, each a model call answering after ${s.modelMs} ms with one \`Http.get\` of the upstream taking ${s.toolMs} ms, then one more model call that answers with text (${s.turns + 1} model calls, ${s.turns} tool calls; critical path ${critical} ms). The model is a local OpenAI-compatible server (test/llm/scripted-model.ts) that picks its reply by the number of assistant messages in the request. Crane runs \`Agent.run\` (POST /runs \`{ agent }\`, \`max_turns\` ${s.turns + 1}; its model calls stream). The floor is the AI SDK's own loop (\`generateText\` with the tool's \`execute\` and \`stopWhen: stepCountIs(${s.turns + 1})\`) inside one plain Worker's fetch handler, no durability (bench/peers/agent-floor). Workflows makes each model call (not streamed) and each tool call a \`step.do\` (bench/peers/workflows/src/agent.ts). Every system is polled the same way (GET every 5 ms); the floor's POST answers when its loop has ended.
Single runs: ${s.runs} one at a time after 2 warm-up runs; median wall time from POST to the run seen finished. Burst: ${s.burst} runs POSTed at once (no connection limit on the POSTs; the polls share ${s.pollConnections} connections, each run polled every ${s.burstPollMs} ms), wall time from the first POST to the last run seen finished. Operations (Crane): ${s.usageSamples} runs one at a time, their GET …/usage counters and the change in the breakers' counts; a turn is one model call. A run's requests are its run object's (the create, the first model call's pre-flight, one report per model call and per tool call) and the tenant limiter's (the slot taken and given back): per turn, the reports are 2, and the rest is a fixed cost per run.

${markdownTable(rows(results), systems)}

Targets:

| target | measured | verdict |
|---|---|---|
${targets.map((t) => `| ${t.target} | ${t.measured} | ${t.verdict} |`).join("\n")}
`;
}
