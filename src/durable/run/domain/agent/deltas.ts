// A model call's consumer, before the call: its pre-flight records that this attempt's call is
// being made (llm.call_began), durably, so no other delivery of the same dispatch (a duplicate, a
// copy sent again, a redelivery after a restart) makes it a second time. A call cut off by a crash
// is then made again only as a new attempt, when its lease passes, and the log shows both.
//
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

/** The model call `dispatch` may be made now (and is recorded as begun); false: it was begun already. */
export function beginModelCall(m: Machine, step: number, dispatch: number): boolean {
  const found = findWork(m.state, step, dispatch);
  if (!("work" in found) || found.work.kind !== "model") return true;
  if (found.work.s.began) return false;
  m.emit("llm.call_began", { step, turn: found.work.s.turn, attempt: found.work.s.attempt });
  return true;
}
