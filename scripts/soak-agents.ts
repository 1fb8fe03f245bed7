/**
 * The soak's agent runs (--agents N): N Agent.run steps, each driven by its own scripted model
 * (test/llm/scripted-model.ts, started here in-process; one model name and script per run, so the
 * server counts calls per run and turn). Each run has four turns: turns 1-3 each add a todo with a
 * title of its own (turn 2 also calls Calculator.evaluate), turn 4 answers. Every reply takes
 * 300-800 ms (the first up to 2.5 s more), so the kill finds many runs with a model call in
 * flight, others between turns or with a tool call running. Before the clock starts, one agent
 * run warms the runtime up.
 *
 * What is checked, per run, against its own log and the server's count:
 * - it completed, with the scripted answer and four tool calls;
 * - each turn's answer was recorded once (one llm.call_succeeded), and no attempt began after it;
 * - the server saw no more calls for a turn than the log shows attempts (a call cut off by the crash
 *   is made again as a second attempt, which is allowed; an attempt cut off before its request left
 *   the runtime never reached the server, which is allowed too, and counted);
 * - no request for a turn reached the server after that turn's answer was recorded (request times
 *   are taken by the soak's own listener on the server, the record times from the run's events);
 * - each of its three todos exists exactly once (checked by the caller against D1).
 */
import type { Server } from "node:http";
import { registerScript, scriptRecord } from "../test/llm/scripted-model-client.ts";
import type { ScriptedTurn } from "../test/llm/scripted-model.ts";

export const AGENT_TURNS = 4;
const ANSWER = "Added the three todos.";

export interface AgentSpec {
  model: string;
  /** The titles of the todos its turns 1-3 add, in order. */
  titles: string[];
}

export interface AgentRun {
  key: string;
  title: string;
  body: string;
  agent: AgentSpec;
}

/**
 * 300-800 ms a reply; a run's first reply also waits up to 2.5 s more, by its number, so the runs
 * drift apart and the kill finds them at different turns, not all in the same one.
 */
const latency = (i: number, turn: number) => 300 + ((i * 7 + turn * 3) % 6) * 100 + (turn === 0 ? (i % 6) * 500 : 0);

export function agentRuns(n: number): AgentRun[] {
  return Array.from({ length: n }, (_, i) => {
    const model = `soak-agent-${i}`;
    const titles = [1, 2, 3].map((t) => `soak agent ${i} todo ${t}`);
    const agent = { goal: `Add the todos for agent ${i}, then say so.`, model, tools: ["TodoStore.add", "Calculator.evaluate"], max_turns: 6 };
    // The retry policy also retries model calls (429, 5xx, timeouts): a crash mid-call is one more attempt.
    const body = JSON.stringify({ agent, options: { retry: { max_attempts: 5, initial_delay_ms: 200 } } });
    return { key: `soak-agent-${i}`, title: `soak agent ${i}`, body, agent: { model, titles } };
  });
}

function script(i: number, titles: string[]): ScriptedTurn[] {
  const add = (t: number) => ({ name: "TodoStore.add", arguments: { title: titles[t] } });
  return [
    { tool_calls: [add(0)], latency_ms: latency(i, 0) },
    { tool_calls: [add(1), { name: "Calculator.evaluate", arguments: { expression: `${i} * 2 + 1` } }], latency_ms: latency(i, 1) },
    { tool_calls: [add(2)], latency_ms: latency(i, 2) },
    { text: ANSWER, latency_ms: latency(i, 3) },
  ];
}

/** Times (ms since the epoch) at which each model's requests reached the server, per server turn (0-based). */
export type RequestTimes = Map<string, Map<number, number[]>>;

/**
 * Registers every run's script and listens beside the server's own handler, noting when each chat
 * request arrives (its model and turn, as the server counts them: assistant messages in the request).
 */
export async function prepareAgents(server: Server, baseUrl: string, runs: readonly AgentRun[]): Promise<RequestTimes> {
  for (const [i, r] of runs.entries()) await registerScript(baseUrl, r.agent.model, script(i, r.agent.titles));
  const times: RequestTimes = new Map();
  server.on("request", (req) => {
    if (req.method !== "POST" || req.url !== "/v1/chat/completions") return;
    const at = Date.now();
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { model?: string; messages?: { role: string }[] };
        const turn = (body.messages ?? []).filter((m) => m.role === "assistant").length;
        const perTurn = times.get(body.model ?? "") ?? new Map<number, number[]>();
        perTurn.set(turn, [...(perTurn.get(turn) ?? []), at]);
        times.set(body.model ?? "", perTurn);
      } catch {
        // not JSON: the server answers 400 and counts no call
      }
    });
  });
  return times;
}

/**
 * Runs one one-turn agent to its end before the soak's clock starts, so the kill measures a warm
 * runtime: cold, the first model calls leave wrangler dev seconds after the runs are accepted, and
 * a kill at 2.5 s would find every run before its first call rather than mid-loop.
 */
export async function warmUpAgents(runtimeUrl: string, modelUrl: string, auth: Record<string, string>): Promise<void> {
  await registerScript(modelUrl, "soak-agent-warm-up", [{ text: "warm" }]);
  const res = await fetch(`${runtimeUrl}/api/v1/runs`, {
    method: "POST",
    headers: { ...auth, "content-type": "application/json" },
    body: JSON.stringify({ agent: { goal: "Say warm.", model: "soak-agent-warm-up", tools: ["Calculator.evaluate"] } }),
  });
  if (res.status !== 201) throw new Error(`the warm-up agent run: POST /runs answered ${res.status}: ${await res.text()}`);
  const { run_id } = (await res.json()) as { run_id: string };
  for (const deadline = Date.now() + 120_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 200))) {
    const run = (await (await fetch(`${runtimeUrl}/api/v1/runs/${run_id}`, { headers: auth })).json()) as { status: string };
    if (run.status === "completed") return;
    if (run.status === "failed" || run.status === "cancelled") throw new Error(`the warm-up agent run ${run_id} ended ${run.status}`);
  }
  throw new Error(`the warm-up agent run ${run_id} did not end in 120 s`);
}

interface Event {
  seq: number;
  type: string;
  at: string;
  data: { turn?: number; queue_ms?: number };
}
interface AgentResource {
  status: string;
  execution_log: { output: { answer?: unknown; tool_calls?: number } | null; turns?: { turn: number; attempts: number }[] }[];
}

/** One run's findings, gathered while the runtime is up. */
export interface AgentFindings {
  key: string;
  run_id: string;
  completed: boolean;
  answered: boolean;
  turns: number;
  /** Turns whose answer was recorded before the kill. */
  recorded_before_kill: number;
  /** Turns whose model call had begun and was not recorded at the kill. */
  in_flight_at_kill: number;
  /** The run had begun its loop and not finished it at the kill. */
  mid_loop_at_kill: boolean;
  /** Attempts beyond the first, over all turns. */
  second_attempts: number;
  /** Attempts that never reached the server (cut off before the request left the runtime). */
  attempts_unsent: number;
  /** How long each recorded model call's message waited for a consumer (ms), as its event says. */
  queue_ms: number[];
  problems: string[];
}

async function eventsOf(baseUrl: string, runId: string, auth: Record<string, string>): Promise<Event[]> {
  const events: Event[] = [];
  for (let after = 0; ;) {
    const res = await fetch(`${baseUrl}/api/v1/runs/${runId}/events?after=${after}&limit=1000`, { headers: auth });
    if (!res.ok) throw new Error(`GET /runs/${runId}/events: ${res.status}`);
    const page = ((await res.json()) as { events: Event[] }).events;
    if (page.length === 0) return events;
    events.push(...page);
    after = page.at(-1)!.seq;
  }
}

/** Inspects every accepted agent run, one after another (each reads its whole log). */
export async function inspectAgentRuns(
  opts: { baseUrl: string; modelUrl: string; times: RequestTimes; killedAt: number },
  runs: readonly { key: string; agent?: AgentSpec; run_id?: string; auth: Record<string, string> }[],
): Promise<AgentFindings[]> {
  const findings: AgentFindings[] = [];
  for (const r of runs)
    if (r.agent && r.run_id) findings.push(await inspectAgentRun({ ...opts, auth: r.auth }, { key: r.key, agent: r.agent, run_id: r.run_id }));
  return findings;
}

async function inspectAgentRun(
  opts: { baseUrl: string; modelUrl: string; auth: Record<string, string>; times: RequestTimes; killedAt: number },
  run: { key: string; agent: AgentSpec; run_id: string },
): Promise<AgentFindings> {
  const res = await fetch(`${opts.baseUrl}/api/v1/runs/${run.run_id}`, { headers: opts.auth });
  if (!res.ok) throw new Error(`GET /runs/${run.run_id}: ${res.status}`);
  const resource = (await res.json()) as AgentResource;
  const entry = resource.execution_log[0];
  const events = await eventsOf(opts.baseUrl, run.run_id, opts.auth);
  const calls = (await scriptRecord(opts.modelUrl, run.agent.model)).calls;
  const times = opts.times.get(run.agent.model) ?? new Map<number, number[]>();
  const before = (e: Event) => Date.parse(e.at) <= opts.killedAt;
  const problems: string[] = [];
  const found: AgentFindings = {
    key: run.key,
    run_id: run.run_id,
    completed: resource.status === "completed",
    answered: entry?.output?.answer === ANSWER && entry.output.tool_calls === 4,
    turns: entry?.turns?.length ?? 0,
    recorded_before_kill: 0,
    in_flight_at_kill: 0,
    mid_loop_at_kill: events.some((e) => e.type === "agent.turn_started" && before(e)) && !events.some((e) => e.type === "agent.finished" && before(e)),
    second_attempts: 0,
    attempts_unsent: 0,
    queue_ms: [],
    problems,
  };
  if (!found.completed) problems.push(`status ${resource.status}`);
  if (found.completed && !found.answered) problems.push(`output ${JSON.stringify(entry?.output)}`);
  if (found.turns !== AGENT_TURNS) problems.push(`${found.turns} turns`);
  for (const t of entry?.turns ?? []) {
    const ofTurn = events.filter((e) => e.data.turn === t.turn);
    const recorded = ofTurn.filter((e) => e.type === "llm.call_succeeded");
    const started = ofTurn.filter((e) => e.type === "llm.call_started");
    // The server's turn counts the assistant messages the request carries: Crane's turn 1 is its 0.
    const seen = calls[String(t.turn - 1)] ?? 0;
    found.second_attempts += Math.max(0, t.attempts - 1);
    found.attempts_unsent += Math.max(0, t.attempts - seen);
    if (recorded.length !== 1) problems.push(`turn ${t.turn}: ${recorded.length} answers recorded`);
    if (started.length !== t.attempts) problems.push(`turn ${t.turn}: ${started.length} llm.call_started but ${t.attempts} attempts`);
    if (seen > t.attempts) problems.push(`turn ${t.turn}: the model was called ${seen} times for ${t.attempts} attempts`);
    const rec = recorded[0];
    if (!rec) continue;
    if (rec.data.queue_ms !== undefined) found.queue_ms.push(rec.data.queue_ms);
    if (started.some((e) => e.seq > rec.seq)) problems.push(`turn ${t.turn}: an attempt began after its answer was recorded`);
    const late = (times.get(t.turn - 1) ?? []).filter((at) => at > Date.parse(rec.at));
    if (late.length > 0) problems.push(`turn ${t.turn}: ${late.length} model call(s) after its answer was recorded at ${rec.at}`);
    if (before(rec)) found.recorded_before_kill++;
    else if (started.some(before)) found.in_flight_at_kill++;
  }
  return found;
}

export interface AgentSummary {
  agents: number;
  agents_completed: number;
  agents_mid_loop_at_kill: number;
  agent_turns_recorded_before_kill: number;
  agent_model_calls_in_flight_at_kill: number;
  agent_model_second_attempts: number;
  agent_model_attempts_unsent: number;
  agent_runs_with_problems: number;
  /** The model calls' wait for a consumer: a turn's cost beyond the model's own latency. */
  agent_model_queue_ms_median: number;
  agent_model_queue_ms_max: number;
  agent_todos_once: number;
  agent_todos_expected: number;
}

/** Sums the findings; `made` is how many todos D1 holds with a title (deleted or not). */
export function summarizeAgents(runs: readonly AgentRun[], findings: readonly AgentFindings[], made: (title: string) => number): AgentSummary {
  for (const r of runs) {
    const f = findings.find((x) => x.key === r.key);
    for (const title of r.agent.titles) if (made(title) !== 1) f?.problems.push(`todo "${title}" made ${made(title)} times`);
  }
  const sum = (pick: (f: AgentFindings) => number) => findings.reduce((n, f) => n + pick(f), 0);
  const waits = findings.flatMap((f) => f.queue_ms).sort((a, b) => a - b);
  return {
    agents: runs.length,
    agents_completed: findings.filter((f) => f.completed && f.answered).length,
    agents_mid_loop_at_kill: findings.filter((f) => f.mid_loop_at_kill).length,
    agent_turns_recorded_before_kill: sum((f) => f.recorded_before_kill),
    agent_model_calls_in_flight_at_kill: sum((f) => f.in_flight_at_kill),
    agent_model_second_attempts: sum((f) => f.second_attempts),
    agent_model_attempts_unsent: sum((f) => f.attempts_unsent),
    agent_runs_with_problems: findings.filter((f) => f.problems.length > 0).length + (runs.length - findings.length),
    agent_model_queue_ms_median: waits[Math.floor(waits.length / 2)] ?? 0,
    agent_model_queue_ms_max: waits.at(-1) ?? 0,
    agent_todos_once: runs.reduce((n, r) => n + r.agent.titles.filter((t) => made(t) === 1).length, 0),
    agent_todos_expected: runs.length * 3,
  };
}

/** The summary line, then each run with a problem (ten at most). */
export function describeAgents(s: AgentSummary, findings: readonly AgentFindings[]): string[] {
  return [
    `agents: ${s.agents_completed}/${s.agents} completed; ${s.agents_mid_loop_at_kill} mid-loop at the kill, with ${s.agent_model_calls_in_flight_at_kill} model calls in flight ` +
      `(then ${s.agent_model_second_attempts} second attempts; ${s.agent_model_attempts_unsent} attempts never reached the model); ` +
      `${s.agent_turns_recorded_before_kill} turns recorded before the kill; runs with a problem (a recorded call made again, a call with no attempt, ` +
      `a todo not made once, …): ${s.agent_runs_with_problems}; todos once: ${s.agent_todos_once}/${s.agent_todos_expected}`,
    ...findings
      .filter((f) => f.problems.length > 0)
      .slice(0, 10)
      .map((f) => `agent ${f.key} (${f.run_id}): ${f.problems.join("; ")}`),
  ];
}

export const agentsOk = (s: AgentSummary) =>
  s.agents_completed === s.agents && s.agent_runs_with_problems === 0 && s.agent_todos_once === s.agent_todos_expected;
