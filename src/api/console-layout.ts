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
    .array(
      z.object({
        step_number: z.number().int().min(1),
        tool: z.string().max(100),
        depends_on: z.array(z.number().int()).max(50).default([]),
        /** The step's compensation (its undo), drawn beside it; absent or null: none. */
        compensate: z.object({ tool: z.string().max(100) }).nullish(),
      }),
    )
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
  /** One undo node per compensable step, with its dashed edge from the step back to it. */
  compensations: z.array(
    z.object({ step: z.number(), tool: z.string(), x: z.number(), y: z.number(), width: z.number(), height: z.number(), points: z.array(point) }),
  ),
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
  const nodes = steps.map((s) => {
    const n = g.node(String(s.step_number)) as { x: number; y: number; width: number; height: number };
    return { step: s.step_number, tool: s.tool, x: n.x, y: n.y, width: n.width, height: n.height };
  });
  const undo = compensationLayout(steps, nodes, Math.ceil(graph.height ?? 0));
  return {
    width: Math.ceil(graph.width ?? 0),
    height: undo.height,
    nodes,
    edges: g.edges().map((e) => ({ from: Number(e.v), to: Number(e.w), points: (g.edge(e) as { points: { x: number; y: number }[] }).points })),
    compensations: undo.nodes,
  };
}

const UNDO_H = 36;
const UNDO_GAP = 14;

/**
 * Compensations sit in rows under the DAG, each in its step's column, so an undo reads as
 * belonging to the step above it. Its edge runs backwards (from the step to its undo) through the
 * gap left of the step's column, where dagre puts no node, so it never crosses one: down from the
 * step's lower left, along the gap, into the undo's left side. Steps of one column stack their
 * undos in rows, in plan order.
 */
export function compensationLayout(steps: readonly LayoutStep[], nodes: readonly Layout["nodes"][number][], dagHeight: number) {
  const out: Layout["compensations"] = [];
  const rowsUsed = new Map<number, number>();
  let bottom = dagHeight;
  for (const s of steps) {
    if (!s.compensate) continue;
    const n = nodes.find((x) => x.step === s.step_number);
    if (!n) continue;
    const column = Math.round(n.x);
    const row = rowsUsed.get(column) ?? 0;
    rowsUsed.set(column, row + 1);
    const y = dagHeight + UNDO_GAP + row * (UNDO_H + UNDO_GAP) + UNDO_H / 2;
    const left = n.x - n.width / 2;
    const gutter = left - 12;
    out.push({
      step: s.step_number,
      tool: s.compensate.tool,
      x: n.x,
      y,
      width: n.width,
      height: UNDO_H,
      points: [
        { x: left + 10, y: n.y + n.height / 2 },
        { x: gutter, y: n.y + n.height / 2 + 6 },
        { x: gutter, y },
        { x: left, y },
      ],
    });
    bottom = Math.max(bottom, y + UNDO_H / 2 + 16);
  }
  return { nodes: out, height: bottom };
}

const layoutRoute = createRoute({
  method: "post",
  operationId: "layOutConsoleGraph",
  path: "/layout",
  hide: true,
  middleware: jsonBody,
  security: ACCESS.apiKey.security,
  request: { body: jsonRequest(layoutRequestSchema, "A plan's steps, as far as drawing them needs") },
  responses: { 200: jsonResponse(layoutSchema, "Node positions and edge routes"), ...errors(400, 413, 415), ...ACCESS.apiKey.responses },
});

consoleLayoutApi.openapi(layoutRoute, (c) => c.json(layoutPlan(c.req.valid("json").steps), 200));
