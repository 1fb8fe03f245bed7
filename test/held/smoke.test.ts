import { expect, it } from "vitest";
import { createRun, getRun } from "../helpers";
import { deliver, sentMessages } from "./harness";

it("holds messages until the test delivers them", async () => {
  const run = await createRun({ prompt: "calculate 1 + 1" });
  await new Promise((r) => setTimeout(r, 300));
  expect((await getRun(run.run_id)).execution_log[0]!.status).toBe("queued");
  const [msg] = await sentMessages(run.run_id);
  await deliver(msg!);
  expect((await getRun(run.run_id)).status).toBe("completed");
});
