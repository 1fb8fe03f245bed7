// The agent's recorded turns, as the messages of its next model call. Pure and deterministic: the
// same log builds the same messages byte for byte (object keys sorted, ids derived from turn and
// call numbers, each result cut at the same byte), so a replay or a retry asks the model the same
// thing, and a recorded answer stays an answer to the prompt it was recorded for.
import { z } from "zod";
import { canonicalJson } from "../lib/hash";
import type { ChatMessage } from "./chat-messages";

/** What the model is told of a tool result, at most (bytes of UTF-8); the rest is cut with a note. */
export const MAX_RESULT_BYTES = 16 * 1024;

export const DEFAULT_AGENT_SYSTEM =
  "You are an agent working towards the user's goal with the tools offered. Call tools when you need " +
  "information or need to act; you will see each call's result. Calls in one answer run in parallel, so " +
  "only put calls together that do not depend on each other. When the goal is reached, answer without tool calls.";

export const callOutcomeSchema = z.discriminatedUnion("status", [
  z.object({ status: z.literal("succeeded"), output: z.unknown() }),
  z.object({ status: z.literal("failed"), error: z.object({ code: z.string(), message: z.string() }) }),
  z.object({ status: z.literal("rejected"), comment: z.string().optional() }),
  z.object({ status: z.literal("forbidden") }),
]);
export type CallOutcome = z.infer<typeof callOutcomeSchema>;

export const recordedTurnSchema = z.object({
  text: z.string(),
  calls: z.array(z.object({ tool: z.string(), input: z.unknown(), outcome: callOutcomeSchema })),
  /** After an answer that failed `output_schema`: the repair request the model was sent. */
  repair: z.string().optional(),
});
export type RecordedTurn = z.infer<typeof recordedTurnSchema>;

/** A call's id in the messages: stable across replays, unique across the step's turns. */
export const callId = (turn: number, call: number) => `call_${turn}_${call}`;

const encoder = new TextEncoder();

function cut(text: string, maxBytes: number): string {
  const bytes = encoder.encode(text);
  if (bytes.byteLength <= maxBytes) return text;
  // Decoding a prefix may end inside a character; the decoder drops the partial one ("fatal" off, no U+FFFD kept).
  const head = new TextDecoder().decode(bytes.subarray(0, maxBytes)).replace(/\uFFFD$/, "");
  return `${head}\n[cut: the result is ${bytes.byteLength} bytes; the first ${maxBytes} are shown]`;
}

/** The text the model reads for a call's outcome. */
export function outcomeText(tool: string, outcome: CallOutcome): string {
  switch (outcome.status) {
    case "succeeded":
      return cut(typeof outcome.output === "string" ? outcome.output : (canonicalJson(outcome.output) ?? "null"), MAX_RESULT_BYTES);
    case "failed":
      return cut(`error ${outcome.error.code}: ${outcome.error.message}`, MAX_RESULT_BYTES);
    case "rejected":
      return `rejected by a person: ${outcome.comment?.trim() || "(no comment)"}`;
    case "forbidden":
      return `not an allowed tool: ${tool} is not among the tools this agent may call`;
  }
}

export function systemPrompt(userSystem?: string): string {
  return userSystem?.trim() ? `${DEFAULT_AGENT_SYSTEM}\n\n${userSystem.trim()}` : DEFAULT_AGENT_SYSTEM;
}

/** The next call's system prompt and messages: the goal, then each turn's answer and its calls' outcomes. */
export function buildMessages(args: { goal: string; system?: string; turns: readonly RecordedTurn[] }): { system: string; messages: ChatMessage[] } {
  const messages: ChatMessage[] = [{ role: "user", content: args.goal }];
  args.turns.forEach((turn, t) => {
    const ids = turn.calls.map((_, c) => callId(t + 1, c + 1));
    messages.push({
      role: "assistant",
      content: turn.text,
      // Inputs go through canonical JSON too, so key order in the log cannot change the prompt.
      tool_calls: turn.calls.map((c, i) => ({ id: ids[i]!, name: c.tool, input: JSON.parse(canonicalJson(c.input ?? null)) as unknown })),
    });
    turn.calls.forEach((c, i) => messages.push({ role: "tool", tool_call_id: ids[i]!, name: c.tool, content: outcomeText(c.tool, c.outcome) }));
    if (turn.repair) messages.push({ role: "user", content: turn.repair });
  });
  return { system: systemPrompt(args.system), messages };
}
