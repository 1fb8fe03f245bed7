// Inline: a pure, bounded tool (the calculator) runs inside the command that starts it: no queue
// hop, no request, no deadline.
import { stepError } from "../../../../execution/step-error";
import type { InlineTool } from "../../../../tools/tool";
import type { Executor } from "./executor";

export const inlineExecutor: Executor<InlineTool> = {
  start(a) {
    a.begin();
    const began = a.m.clock();
    const result = a.tool.run(a.input);
    const took = Math.max(0, a.m.clock() - began);
    // A synchronous tool cannot be interrupted; its bounds keep it short, and an attempt that
    // still overran its timeout is failed as one that timed out.
    if (took > a.timeoutMs) a.fail(stepError("step_timeout", `${a.tool.name} did not finish within ${a.timeoutMs} ms (took ${took} ms).`));
    else if (result.success) a.succeed(result.output, { duration_ms: took });
    else a.fail(result.error);
  },
  deadline: () => null,
  expire: () => {},
};
