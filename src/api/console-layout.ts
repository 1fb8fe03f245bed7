// POST /console/layout: the web console's DAG layout, done with dagre in the Worker so the page
// only draws boxes and lines. Layout depends on the plan alone, so a run's graph is laid out once
// and recoloured live. It serves the console only, so it is not in the public API description.
import { Graph, layout } from "@dagrejs/dagre";
import { createRoute, z } from "@hono/zod-openapi";
import { jsonBody } from "./middleware/json-body";
import { ACCESS, createApi, errors, jsonRequest, jsonResponse } from "./openapi";

export const consoleLayoutApi = createApi();

const layoutRequestSchema = z.strictObject({
  steps: z
    .array(z.object({ step_number: z.number().int().min(1), tool: z.string().max(100), depends_on: z.array(z.number().int()).max(50).default([]) }))
    .min(1)
    .max(50),
});
type LayoutStep = z.infer<typeof layoutRequestSchema>["steps"][number];

const point = z.object({ x: z.number(), y: z.number() });
const layoutSchema = z.object({
  width: z.number(),
  height: z.number(),
  nodes: z.array(z.object({ step: z.number(), tool: z.string(), x: z.number(), y: z.number(), width: z.number(), height: z.number() })),
  edges: z.array(z.object({ from: z.number(), to: z.number(), points: z.array(point) })),
});
export type Layout = z.infer<typeof layoutSchema>;

const NODE_W = 190;
const NODE_H = 52;

export function layoutPlan(steps: LayoutStep[]): Layout {
  const g = new Graph();
  g.setGraph({ rankdir: "LR", nodesep: 24, ranksep: 60, marginx: 16, marginy: 16 });
  g.setDefaultEdgeLabel(() => ({}));
  const known = new Set(steps.map((s) => s.step_number));
  for (const s of steps) g.setNode(String(s.step_number), { width: NODE_W, height: NODE_H, label: s.tool });
  for (const s of steps) for (const d of s.depends_on) if (known.has(d)) g.setEdge(String(d), String(s.step_number));
  layout(g);
  const graph = g.graph() as { width?: number; height?: number };
  return {
    width: Math.ceil(graph.width ?? 0),
    height: Math.ceil(graph.height ?? 0),
    nodes: steps.map((s) => {
      const n = g.node(String(s.step_number)) as { x: number; y: number; width: number; height: number };
      return { step: s.step_number, tool: s.tool, x: n.x, y: n.y, width: n.width, height: n.height };
    }),
    edges: g.edges().map((e) => ({ from: Number(e.v), to: Number(e.w), points: (g.edge(e) as { points: { x: number; y: number }[] }).points })),
  };
}

const layoutRoute = createRoute({
  method: "post",
  path: "/layout",
  hide: true,
  middleware: jsonBody,
  security: ACCESS.apiKey.security,
  request: { body: jsonRequest(layoutRequestSchema, "A plan's steps, as far as drawing them needs") },
  responses: { 200: jsonResponse(layoutSchema, "Node positions and edge routes"), ...errors(400, 413, 415), ...ACCESS.apiKey.responses },
});

consoleLayoutApi.openapi(layoutRoute, (c) => c.json(layoutPlan(c.req.valid("json").steps), 200));
