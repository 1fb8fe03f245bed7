import { createRoute } from "@hono/zod-openapi";
import pkg from "../../package.json";
import { errorFields, log } from "../lib/log";
import { llmConfig } from "../planner/llm/llm-config";
import { llmHealth } from "../planner/llm/llm-errors";
import { ACCESS, createApi, jsonResponse } from "./openapi";
import { healthSchema } from "./response-schemas";

/** GET /health: each dependency checked for real; 503 when one fails. Public. */
export const healthApi = createApi();

async function check(name: string, probe: () => Promise<unknown>): Promise<[string, string]> {
  try {
    await probe();
    return [name, "ok"];
  } catch (err) {
    log.error("health.check_failed", { check: name, ...errorFields(err) });
    return [name, "failing"];
  }
}

const getHealth = createRoute({
  method: "get",
  operationId: "getHealth",
  path: "/health",
  tags: ["Health"],
  summary: "Dependency checks",
  security: ACCESS.public.security,
  responses: {
    200: jsonResponse(healthSchema, "Every dependency answers"),
    503: jsonResponse(healthSchema, "A dependency is failing (see checks)"),
    ...ACCESS.public.responses,
  },
});

healthApi.openapi(getHealth, async (c) => {
  const checks = Object.fromEntries(
    await Promise.all([
      check("d1", () => c.env.DB.prepare("SELECT 1 FROM runs LIMIT 1").all()),
      // A run id that can never be a real one: the object answers null without writing anything.
      check("durable_objects", () => c.env.RUNS.getByName("health-probe").status()),
      check("queue", async () => {
        if (typeof c.env.STEPS?.send !== "function") throw new Error("STEPS queue binding missing");
      }),
    ]),
  );
  const ok = Object.values(checks).every((v) => v === "ok");
  // The LLM planner is reported but never fails health: without it, the rule planner plans.
  const llm = llmHealth(llmConfig(c.env) !== null);
  return c.json({ status: ok ? ("ok" as const) : ("degraded" as const), version: pkg.version, checks: { ...checks, llm } }, ok ? 200 : 503);
});
