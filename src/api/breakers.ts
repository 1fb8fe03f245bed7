import { Hono } from "hono";
import { breakerName, type BreakerStatus } from "../durable/breaker/tool-breaker";
import { tools } from "../tools/registry";
import type { AppEnv } from "./app-env";
import { ApiError } from "./errors";

/** /breakers: the caller's tenant's circuit breaker for every queue tool, and a manual reset. */
export const breakersApi = new Hono<AppEnv>();

// Wait.sleep is a timer kept by the run object, with no dependency to protect.
export const guardedTools = () => [...tools.values()].filter((t) => t.executor === "queue").map((t) => t.name);

breakersApi.get("/breakers", async (c) => {
  const { tenant } = c.var.principal;
  const breakers = await Promise.all(guardedTools().map((tool) => c.env.BREAKERS.getByName(breakerName(tenant, tool)).status(tool) as Promise<BreakerStatus>));
  return c.json({ enabled: c.env.BREAKER_ENABLED !== "false", breakers });
});

breakersApi.post("/breakers/:tool/reset", async (c) => {
  const tool = c.req.param("tool");
  if (!guardedTools().includes(tool)) throw new ApiError(404, "breaker_not_found", `No tool named "${tool}" has a breaker. Tools: ${guardedTools().join(", ")}.`);
  return c.json((await c.env.BREAKERS.getByName(breakerName(c.var.principal.tenant, tool)).reset(tool)) as BreakerStatus);
});
