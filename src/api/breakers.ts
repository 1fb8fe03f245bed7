import { Hono } from "hono";
import type { BreakerStatus } from "../durable/tool-breaker";
import { tools } from "../tools/registry";
import { ApiError } from "./errors";

/** /breakers: every queue tool's circuit breaker, and a manual reset. */
export const breakersApi = new Hono<{ Bindings: Env }>();

// Wait.sleep is a timer kept by the run object, with no dependency to protect.
const guarded = () => [...tools.values()].filter((t) => t.executor === "queue").map((t) => t.name);

breakersApi.get("/breakers", async (c) => {
  const breakers = await Promise.all(guarded().map((tool) => c.env.BREAKERS.getByName(tool).status(tool) as Promise<BreakerStatus>));
  return c.json({ enabled: c.env.BREAKER_ENABLED !== "false", breakers });
});

breakersApi.post("/breakers/:tool/reset", async (c) => {
  const tool = c.req.param("tool");
  if (!guarded().includes(tool)) throw new ApiError(404, "breaker_not_found", `No tool named "${tool}" has a breaker. Tools: ${guarded().join(", ")}.`);
  return c.json((await c.env.BREAKERS.getByName(tool).reset(tool)) as BreakerStatus);
});
