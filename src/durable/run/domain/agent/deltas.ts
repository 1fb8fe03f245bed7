// Streamed text: a model call's consumer sends what the model writes as it writes it, and the run
// records it as llm.delta while that call's attempt runs. A late or stale delta (the call already
// answered, or a later attempt runs) is dropped: the answer carries the whole text anyway.
import type { Machine } from "../machine";
import { findWork } from "../work";

export function recordDelta(m: Machine, step: number, dispatch: number, text: string): void {
  const found = findWork(m.state, step, dispatch);
  if (!("work" in found) || found.work.kind !== "model" || text === "") return;
  m.emit("llm.delta", { step, turn: found.work.s.turn, attempt: found.work.s.attempt, text });
}
