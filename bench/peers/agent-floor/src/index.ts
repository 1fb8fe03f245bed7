/**
 * The agent workload's floor: the least an agent loop can cost, the AI SDK's own loop run in the
 * request that starts it. POST /runs { goal, max_turns } runs `generateText` with one tool,
 * `Http__get` (the name Crane's model sees for Http.get), whose `execute` does the fetch, until the
 * model answers or `max_turns` model calls were made; then it answers 201 { run_id, status }.
 * GET /runs/:id answers that status from this isolate's memory (the benchmark polls every system
 * the same way): no durability, by design.
 */
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { generateText, jsonSchema, stepCountIs, tool } from "ai";

interface FloorEnv {
  LLM_BASE_URL: string;
  LLM_MODEL: string;
}

interface Body {
  goal: string;
  max_turns: number;
}

// Bounded: a long benchmark must not grow the isolate without limit; the oldest runs go first.
const MAX_KEPT = 10_000;
const ended = new Map<string, { status: string; turns: number; tool_calls: number }>();

function remember(id: string, outcome: { status: string; turns: number; tool_calls: number }): void {
  if (ended.size >= MAX_KEPT) ended.delete(ended.keys().next().value!);
  ended.set(id, outcome);
}

async function runLoop(env: FloorEnv, body: Body): Promise<{ status: string; turns: number; tool_calls: number }> {
  const model = createOpenAICompatible({ name: "bench-llm", baseURL: env.LLM_BASE_URL, includeUsage: true }).chatModel(env.LLM_MODEL);
  let toolCalls = 0;
  const result = await generateText({
    model,
    prompt: body.goal,
    tools: {
      Http__get: tool({
        description: "GET a URL and return its status and body",
        inputSchema: jsonSchema<{ url: string }>({ type: "object", properties: { url: { type: "string" } }, required: ["url"] }),
        execute: async ({ url }) => {
          toolCalls++;
          const res = await fetch(url);
          return { status: res.status, body: await res.text() };
        },
      }),
    },
    stopWhen: stepCountIs(body.max_turns),
    maxRetries: 0,
  });
  // The loop ends with an answer when the last step made no tool call; otherwise the turns ran out.
  const answered = result.finishReason === "stop";
  return { status: answered ? "completed" : "failed", turns: result.steps.length, tool_calls: toolCalls };
}

export default {
  async fetch(request: Request, env: FloorEnv): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === "/health") return Response.json({ status: "ok" });
    if (request.method === "POST" && url.pathname === "/runs") {
      const body = (await request.json()) as Body;
      const id = crypto.randomUUID();
      let outcome: { status: string; turns: number; tool_calls: number };
      try {
        outcome = await runLoop(env, body);
      } catch (err) {
        console.error(`agent floor: the loop failed: ${String(err)}`);
        outcome = { status: "failed", turns: 0, tool_calls: 0 };
      }
      remember(id, outcome);
      return Response.json({ run_id: id, ...outcome }, { status: 201 });
    }
    const match = /^\/runs\/([\w-]+)$/.exec(url.pathname);
    if (request.method === "GET" && match) {
      const outcome = ended.get(match[1]!);
      if (!outcome) return Response.json({ error: { code: "not_found", message: "no such run in this isolate" } }, { status: 404 });
      return Response.json({ run_id: match[1], ...outcome });
    }
    return Response.json({ error: { code: "not_found", message: "POST /runs or GET /runs/:id" } }, { status: 404 });
  },
} satisfies ExportedHandler<FloorEnv>;
