// Timer: a durable sleep the run object keeps on its own alarm; waiting holds no consumer.
import type { TimerTool } from "../../../../tools/tool";
import type { Executor } from "./executor";

export const timerExecutor: Executor<TimerTool> = {
  start(a) {
    a.begin({ wake_at: a.m.now + a.tool.durationMs(a.input) });
  },
  deadline: (w) => w.wake_at,
  expire(a) {
    a.succeed({ slept_seconds: (a.work.s.resolved_input as { seconds: number }).seconds });
  },
};
