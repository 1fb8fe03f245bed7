import { z } from "zod";
import { timerTool } from "./tool";

export const MAX_SLEEP_SECONDS = 7 * 24 * 3600;

/**
 * Wait.sleep is a durable timer: the run object records when the step wakes and its alarm
 * finishes the step, so waiting holds no consumer and survives restarts.
 */
export const waitSleep = timerTool({
  name: "Wait.sleep",
  description: "Waits the given number of seconds (at most 7 days) before the steps that depend on it run.",
  input_schema: z.strictObject({ seconds: z.number().positive().max(MAX_SLEEP_SECONDS).describe("Seconds to wait, at most 604800") }),
  durationMs: ({ seconds }) => Math.round(seconds * 1000),
});
