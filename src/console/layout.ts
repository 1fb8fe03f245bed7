import { Graph, layout } from "@dagrejs/dagre";
import type { z } from "zod";
import type { layoutRequestSchema } from "./layout-schema";

/**
 * Lays a plan's DAG out with dagre, in the Worker, so the console only draws boxes and lines.
 * Layout depends on the plan alone, so a run's graph is laid out once and recoloured live.
 */

export interface Layout {
  width: number;
  height: number;
  nodes: { step: number; tool: string; x: number; y: number; width: number; height: number }[];
  edges: { from: number; to: number; points: { x: number; y: number }[] }[];
}

const NODE_W = 190;
const NODE_H = 52;

export function layoutPlan(steps: z.infer<typeof layoutRequestSchema>["steps"]): Layout {
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
