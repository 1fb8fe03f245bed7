// What a decision works with: the run's state, the command's clock and randomness, and the two
// things it may do (emit an event, name a message to send). The run object provides it; tests
// drive it directly, with a fixed clock and a seeded random.
import type { StepMessage } from "../../../execution/step-protocol";
import type { RunEventData, RunEventType } from "./events";
import type { RunState } from "./state";

export interface Machine {
  state: RunState;
  /** The command's time (epoch ms): every deadline it sets or checks uses this. */
  now: number;
  /** Reads the clock again, to time an inline tool. */
  clock(): number;
  /** In [0, 1): the jitter of retry delays. */
  random(): number;
  /** Appends and folds an event; returns its seq. */
  emit<T extends RunEventType>(type: T, data: RunEventData[T]): number;
  /** A message for the queue (sent by the run object after the decision). */
  send(message: StepMessage): void;
  /**
   * What the run object saw of the step queue for this command, when it looked (an alarm with a
   * resend due, see executors/queue.ts); absent: not known, and a resend goes out as before.
   */
  queue?: QueueView;
}

export interface QueueView {
  /** When the oldest message still waiting in the step queue was sent (epoch ms); null: none waits. */
  oldest: number | null;
  /** Whether a consumer already has this dispatch (it passed its pre-flight or was handed over): it is not in the queue. */
  received(dispatch: number): boolean;
}
