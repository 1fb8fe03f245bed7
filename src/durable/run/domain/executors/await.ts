// Await: the step waits for something from outside the run (a person's decision, a signal). It
// holds no consumer, no message and no slot, only its deadline on the alarm, when the tool's
// on_timeout decides for an approval and a signal wait fails. Await steps are never undos.
import { stepError } from "../../../../execution/step-error";
import type { AwaitTool } from "../../../../tools/tool";
import type { Machine } from "../machine";
import type { ReceivedSignal, StepState } from "../state";
import type { Executor } from "./executor";

export const awaitExecutor: Executor<AwaitTool> = {
  start(a) {
    const step = a.work.s.step_number;
    a.m.emit("step.waiting", { step, attempt: a.attempt, input: a.input, kind: a.tool.kind, until: a.m.now + a.tool.timeoutMs(a.input) });
    // A signal that came before the step waited was kept for it.
    const name = a.tool.signalName?.(a.input);
    const buffered = name === undefined ? undefined : a.m.state.signals.find((g) => g.name === name && g.taken_by === null);
    if (buffered) takeSignal(a.m, a.m.state.steps.get(step)!, buffered);
  },
  deadline: (w) => w.wait_until,
  expire(a) {
    const s = a.work.s as StepState;
    const { tool } = a;
    if (!tool.onTimeout) {
      const waited = Math.round((a.m.now - (s.started_ms ?? a.m.now)) / 1000);
      const name = (s.resolved_input as { name?: string } | null)?.name;
      a.failForGood(stepError("signal_timeout", `No signal "${name}" came within ${waited} s.`));
      return;
    }
    // Its input parsed when the wait began.
    const decision = tool.onTimeout(tool.input_schema.parse(s.resolved_input));
    a.m.emit("step.decided", { step: s.step_number, attempt: s.attempt, decision, comment: null, decided_by: "timeout", timed_out: true });
  },
};

/** A waiting Wait.signal step takes a signal: it succeeds with the payload. */
export function takeSignal(m: Machine, s: StepState, received: ReceivedSignal): void {
  m.emit("step.succeeded", {
    step: s.step_number,
    attempt: s.attempt,
    output: received.payload,
    duration_ms: Math.max(0, m.now - (s.started_ms ?? m.now)),
    signal: received.seq,
  });
}
