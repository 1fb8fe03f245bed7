import { Hono } from "hono";
import type { AppEnv } from "./app-env";
import { describeTools } from "../tools/registry";

/** GET /tools: the catalogue, with JSON Schemas generated from the tools' zod schemas. */
export const toolsApi = new Hono<AppEnv>();

const catalogue = describeTools();

toolsApi.get("/tools", (c) => c.json({ tools: catalogue }));
