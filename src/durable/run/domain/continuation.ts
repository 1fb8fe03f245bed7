// Continuation: the consumer whose report calls for the run's next work takes that work in the
// reply, instead of the run object sending it through the queue for another consumer. An agent's
// turn is then two requests to this object (the model call's report, whose reply hands over the
// tool calls; the tool call's report, whose reply hands over the next model call) and no queue
// hop; a DAG's join runs where its last dependency reported.
//
// Nothing about the attempt changes: the work was begun, with its lease and resend time, by the
// decision that dispatched it, exactly as for a queued message. Handing it over is the pre-flight
// a queued delivery would ask for: a model call is recorded as begun (llm.call_began) in the same
// command, so a copy the alarm sends later (the consumer died holding it) is turned away, and the
// attempt is retried when its lease passes, as for a call cut off by a crash.
import type { StepMessage } from "../../../execution/step-protocol";
import { beginModelCall } from "./agent/deltas";
import type { Machine } from "./machine";

/**
 * Takes up to `take` of the command's messages out of `sends` (which the queue then gets) and
 * answers them, marked `granted`. Copies sent again stay queued: their original may be running.
 */
export function grant(m: Machine, sends: StepMessage[], take: number): StepMessage[] {
  const granted: StepMessage[] = [];
  for (let i = 0; i < sends.length && granted.length < take;) {
    const message = sends[i]!;
    if (message.copy !== undefined || !beginModelCall(m, message.step, message.dispatch)) {
      i++;
      continue;
    }
    sends.splice(i, 1);
    granted.push({ ...message, granted: true });
  }
  return granted;
}
