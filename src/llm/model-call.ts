/**
 * One model call as a unit of work: what a queue consumer runs for an agent step's turn. It sends
 * the transcript so far and the tools offered to the configured OpenAI-compatible endpoint (or
 * Workers AI), streams the answer, hands text on through `onDelta` (coalesced), and returns the
 * text, the tool calls (Crane's tool names), the usage and why the model stopped. It never retries:
 * a failure comes back as a StepError whose code says whether the step's retry policy may try again.
 */
import { generateText, jsonSchema, streamText, tool, type ToolSet } from "ai";
import { languageModel, llmConfig, type LlmConfig } from "../planner/llm/llm-config";
import { toModelMessages, type ToolCall } from "./chat-messages";
import { modelCallInputSchema, type ModelCallInput, type ModelCallOutcome, type ModelCallResult } from "./model-call-schema";
import { deltaCoalescer } from "./delta-coalescer";
import { classifyModelError } from "./model-errors";
import { estimateTokens } from "./token-estimate";
import { toolNameCodec } from "./tool-names";

export {
  DEFAULT_MODEL_CALL_TIMEOUT_MS,
  modelCallInputSchema,
  modelCallResultSchema,
  offeredToolSchema,
  type ModelCallInput,
  type ModelCallOutcome,
  type ModelCallResult,
  type OfferedTool,
} from "./model-call-schema";

export interface ModelCallOptions {
  /** The model's text as it streams, coalesced (at most one call per 100 ms, or per 2 KiB). */
  onDelta?: (text: string) => void;
  /** Aborts the call (the step was cancelled, or its lease is gone). */
  signal?: AbortSignal;
  now?: () => number;
  /**
   * For a consumer streaming into a run's log: no delta before the first interval, and none at the
   * end of an answer (the recorded answer has the whole text), so a call nobody could watch costs
   * no request beyond its report.
   */
  streamToLog?: boolean;
  /**
   * False: the answer in one response (no deltas), for a call nobody is watching; streaming costs
   * each call some milliseconds of parsing, which a run with no watcher need not pay. Default true.
   */
  stream?: boolean;
}

/** The configuration for an agent's model: the deployment's (LLM_BASE_URL or Workers AI) with the step's model, or null when none is configured. */
export function modelCallConfig(env: Env, model?: string): LlmConfig | null {
  const base = llmConfig(env);
  if (!base) return null;
  if (!model || model === base.model) return base;
  // A Workers AI deployment only runs Workers AI models.
  if (base.kind === "workers-ai" && !model.startsWith("@cf/")) return null;
  return { ...base, model };
}

const FINISH: Record<string, ModelCallResult["finish_reason"]> = {
  stop: "stop",
  length: "length",
  "tool-calls": "tool_calls",
  "content-filter": "content_filter",
};

export async function callModel(config: LlmConfig, env: Env, rawInput: ModelCallInput, opts: ModelCallOptions = {}): Promise<ModelCallOutcome> {
  const input = modelCallInputSchema.parse(rawInput);
  const names = toolNameCodec(input.tools.map((t) => t.name));
  const tools: ToolSet = Object.fromEntries(
    input.tools.map((t) => [names.toWire(t.name), tool({ description: t.description, inputSchema: jsonSchema(t.input_schema) })]),
  );
  const timeout = AbortSignal.timeout(input.timeout_ms);
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
  const coalescer = deltaCoalescer((text) => opts.onDelta?.(text), { ...(opts.now ? { now: opts.now } : {}), quietStart: opts.streamToLog ?? false });
  let text = "";
  const calls: ToolCall[] = [];
  let usage: { input?: number; output?: number } = {};
  let finish: string | undefined;
  const request = {
    model: languageModel({ ...config, model: input.model }, env, { includeUsage: true }),
    system: input.system,
    messages: toModelMessages(input.messages, names),
    ...(input.tools.length ? { tools } : {}),
    maxOutputTokens: input.max_tokens,
    maxRetries: 0, // the step's retry policy retries, with its attempts recorded
    abortSignal: signal,
  };
  try {
    if (opts.stream === false) {
      const answer = await generateText(request);
      text = answer.text;
      // As streamed: a call to a tool not offered is kept as the model made it (see below).
      for (const c of answer.toolCalls) calls.push({ id: c.toolCallId, name: names.fromWire(c.toolName), input: c.input });
      usage = { input: answer.usage.inputTokens, output: answer.usage.outputTokens };
      finish = answer.finishReason;
    } else {
      for await (const part of streamText(request).fullStream) {
        switch (part.type) {
          case "text-delta":
            text += part.text;
            coalescer.push(part.text);
            break;
          case "tool-call":
            // A call to a tool not offered (or with arguments that are not JSON) is kept as the
            // model made it: the loop tells the model it cannot run, rather than failing the turn.
            calls.push({ id: part.toolCallId, name: names.fromWire(part.toolName), input: part.input });
            break;
          case "finish-step":
            usage = { input: part.usage.inputTokens, output: part.usage.outputTokens };
            finish = part.finishReason;
            break;
          case "error":
            throw part.error;
          case "abort":
            throw new DOMException(part.reason ?? "aborted", "AbortError");
        }
      }
    }
    if (!opts.streamToLog) coalescer.flush();
    // A stream that ended without the model finishing (a dropped connection) is not an answer.
    if (finish === undefined || finish === "error" || finish === "interrupted" || finish === "other") {
      throw new Error(`the stream ended before the model finished (${finish ?? "no finish"})`);
    }
  } catch (err) {
    coalescer.flush();
    return { ok: false, error: classifyModelError(err, { timedOut: timeout.aborted }) };
  }
  const estimated = usage.input === undefined || usage.output === undefined;
  return {
    ok: true,
    result: {
      text,
      tool_calls: calls,
      usage: {
        input_tokens: usage.input ?? estimateTokens(JSON.stringify([input.system, input.messages, input.tools])),
        output_tokens: usage.output ?? estimateTokens(text + JSON.stringify(calls.map((c) => c.input))),
      },
      usage_estimated: estimated,
      finish_reason: FINISH[finish] ?? "other",
    },
  };
}
