import { Hono } from "hono";
import type { AppEnv } from "./app-env";
import { makePlan } from "../planner/make-plan";
import { ApiError } from "./errors";
import { planBodySchema } from "./schemas";
import { jsonBody } from "./validate";

/** POST /plans: the plan a prompt would run, without running it. */
export const plansApi = new Hono<AppEnv>();

plansApi.post("/plans", async (c) => {
  const { prompt } = await jsonBody(c, planBodySchema);
  const planned = await makePlan({ prompt }, c.env);
  if (!planned.ok) throw new ApiError(400, planned.code, planned.message, planned.details);
  return c.json(planned.plan);
});
