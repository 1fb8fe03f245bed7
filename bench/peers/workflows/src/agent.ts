/**
 * The agent workload as a Workflow: the same tool-calling loop as Crane's `Agent.run`, with each
 * model call and each tool call its own `step.do`, so a recorded call is not made again on replay
 * (Workflows' own durability). The model is called over the OpenAI chat-completions protocol
 * without streaming (the cheaper way for the peer); the one tool is `Http__get`, the name Crane's
 * model sees for Http.get. Its output counts the steps it made: Workflows bills per step.
 */
import type { WorkflowStep } from "cloudflare:workers";

export interface ModelEnv {
  LLM_BASE_URL: string;
  LLM_MODEL: string;
}

export interface AgentParams {
  workload: "agent";
  goal: string;
  max_turns: number;
}

interface ToolCall {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}
type Message =
  | { role: "user"; content: string }
  | { role: "assistant"; content: string | null; tool_calls?: ToolCall[] }
  | { role: "tool"; tool_call_id: string; content: string };

const HTTP_GET = {
  type: "function",
  function: {
    name: "Http__get",
    description: "GET a URL and return its status and body",
    parameters: { type: "object", properties: { url: { type: "string" } }, required: ["url"] },
  },
};

export interface AgentOutput {
  answer: string | null;
  turns: number;
  tool_calls: number;
  steps: number;
}

export async function agentLoop(env: ModelEnv, params: AgentParams, step: WorkflowStep): Promise<AgentOutput> {
  const messages: Message[] = [{ role: "user", content: params.goal }];
  let steps = 0;
  let toolCalls = 0;
  for (let turn = 0; turn < params.max_turns; turn++) {
    steps++;
    const reply = await step.do(`model ${turn}`, async () => {
      const res = await fetch(`${env.LLM_BASE_URL}/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: env.LLM_MODEL, messages, tools: [HTTP_GET] }),
      });
      if (!res.ok) throw new Error(`the model answered ${res.status}: ${await res.text()}`);
      const body = (await res.json()) as { choices: { message: { content: string | null; tool_calls?: ToolCall[] } }[] };
      const message = body.choices[0]!.message;
      return { content: message.content, tool_calls: message.tool_calls ?? [] };
    });
    messages.push({ role: "assistant", content: reply.content, ...(reply.tool_calls.length ? { tool_calls: reply.tool_calls } : {}) });
    if (!reply.tool_calls.length) return { answer: reply.content, turns: turn + 1, tool_calls: toolCalls, steps };
    // The turn's calls in parallel, each its own step, as Crane runs them.
    const results = await Promise.all(
      reply.tool_calls.map((call, i) => {
        steps++;
        toolCalls++;
        return step.do(`tool ${turn}.${i}`, async () => {
          const { url } = JSON.parse(call.function.arguments) as { url: string };
          const res = await fetch(url);
          const text = await res.text();
          if (res.status >= 500) throw new Error(`upstream answered ${res.status}`);
          return JSON.stringify({ status: res.status, body: text });
        });
      }),
    );
    reply.tool_calls.forEach((call, i) => messages.push({ role: "tool", tool_call_id: call.id, content: results[i]! }));
  }
  throw new Error(`no answer after ${params.max_turns} turns`);
}
