import { describe, expect, it } from "vitest";
import { implementationOf, implementations } from "../src/tools/implementations";
import { getTool, internalTools, tools } from "../src/tools/registry";

// The specs (registry.ts) and what runs them (implementations.ts) are two modules, so the run's
// domain can import one without the other. These keep them one catalogue: a queue tool the planner
// may name but no consumer can run would fail every step that names it with "unknown_tool".
describe("the tools' implementations", () => {
  // The catalogue's queue tools, and the ones only the engine dispatches (an agent's model call).
  const queued = [...tools.values(), ...internalTools.values()].filter((t) => t.executor === "queue");

  it("run every queue tool the catalogue names, and nothing else", () => {
    expect(queued.length).toBeGreaterThan(0);
    expect(new Set(implementations.keys())).toEqual(new Set(queued.map((t) => t.name)));
    for (const name of ["Calculator.evaluate", "Wait.sleep", "Human.approve", "Run.start", "No.such"]) expect(implementationOf(name)).toBeUndefined();
  });

  it("carry their spec unchanged: schema, effects, breaker and compensation", () => {
    for (const spec of queued) {
      const impl = implementationOf(spec.name)!;
      expect(impl, spec.name).toMatchObject({ name: spec.name, description: spec.description, effects: spec.effects, executor: "queue" });
      expect(impl.input_schema, spec.name).toBe(spec.input_schema);
      expect(impl.breaker, spec.name).toBe(spec.executor === "queue" ? spec.breaker : undefined);
      expect(impl.compensation, spec.name).toBe(spec.compensation);
      expect(typeof impl.execute, spec.name).toBe("function");
    }
  });

  it("resolve an MCP tool's name to a runnable tool with its spec's breaker and effects", () => {
    const spec = getTool("mcp.files.write_file");
    const impl = implementationOf("mcp.files.write_file");
    expect(spec?.executor).toBe("queue");
    expect(impl).toMatchObject({ name: "mcp.files.write_file", effects: true, breaker: "mcp.files", executor: "queue" });
    expect(impl?.input_schema).toBe(spec?.input_schema);
    expect(typeof impl?.effectsFor).toBe("function");
    expect(implementationOf("mcp.Not_A_Server.x")).toBeUndefined();
  });
});
