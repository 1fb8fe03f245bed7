// Http.get, as the planner and the run see it: a read-only queue tool. What it does is in execute.ts.
import { z } from "zod";
import { queueTool } from "../tool";

const urlSchema = z
  .string()
  .max(2048)
  .refine((u) => URL.canParse(u) && /^https?:$/.test(new URL(u).protocol), { message: "Give an absolute http:// or https:// URL." })
  .describe("Absolute http(s) URL; its host:port must be in HTTP_TOOL_ALLOWLIST");

export const httpGet = queueTool({
  name: "Http.get",
  description:
    "Fetches a URL with GET and returns { status, content_type, body } (body parsed when JSON). Only hosts in HTTP_TOOL_ALLOWLIST are reachable; private, loopback and link-local addresses only when listed exactly.",
  input_schema: z.strictObject({ url: urlSchema }),
  // Reads only: a duplicate delivery costs a second GET, which is what a retry does anyway.
  effects: false,
});
