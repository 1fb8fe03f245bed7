// The transcript as the model call receives it: a small, JSON-serialisable shape (it travels in a
// queue message and is rebuilt on replay), converted to the AI SDK's messages only at the call.
import type { ModelMessage } from "ai";
import { z } from "zod";
import type { ToolNameCodec } from "./tool-names";

export const toolCallSchema = z.object({
  id: z.string().min(1),
  /** Crane's name (`TodoStore.add`), never the wire name. */
  name: z.string().min(1),
  input: z.unknown(),
});
export type ToolCall = z.infer<typeof toolCallSchema>;

export const chatMessageSchema = z.discriminatedUnion("role", [
  z.object({ role: z.literal("user"), content: z.string() }),
  z.object({ role: z.literal("assistant"), content: z.string(), tool_calls: z.array(toolCallSchema).default([]) }),
  /** A tool call's result (or error, or refusal) as the text the model reads. */
  z.object({ role: z.literal("tool"), tool_call_id: z.string().min(1), name: z.string().min(1), content: z.string() }),
]);
export type ChatMessage = z.infer<typeof chatMessageSchema>;

export function toModelMessages(messages: readonly ChatMessage[], names: ToolNameCodec): ModelMessage[] {
  return messages.map((m): ModelMessage => {
    switch (m.role) {
      case "user":
        return { role: "user", content: m.content };
      case "assistant":
        return {
          role: "assistant",
          content: [
            ...(m.content ? [{ type: "text" as const, text: m.content }] : []),
            ...m.tool_calls.map((c) => ({ type: "tool-call" as const, toolCallId: c.id, toolName: names.toWire(c.name), input: c.input })),
          ],
        };
      case "tool":
        return {
          role: "tool",
          content: [{ type: "tool-result", toolCallId: m.tool_call_id, toolName: names.toWire(m.name), output: { type: "text", value: m.content } }],
        };
    }
  });
}
