import { describe, expect, it } from "vitest";
import { toolNameCodec } from "../../src/llm/tool-names";

const WIRE = /^[a-zA-Z0-9_-]{1,64}$/;

describe("tool names on the wire", () => {
  it("maps dotted names to names a provider accepts and back", () => {
    const names = ["TodoStore.add", "mcp.github.create_issue", "Calculator.evaluate", "lookup"];
    const codec = toolNameCodec(names);
    for (const name of names) {
      expect(codec.toWire(name)).toMatch(WIRE);
      expect(codec.fromWire(codec.toWire(name))).toBe(name);
    }
    expect(codec.toWire("TodoStore.add")).toBe("TodoStore__add");
    expect(codec.toWire("lookup")).toBe("lookup");
  });

  it("stays reversible when the readable form collides, or breaks the provider's rules", () => {
    const long = `mcp.${"s".repeat(40)}.${"t".repeat(40)}`;
    const names = ["a.b", "a__b", "mcp.x.tool with space", long, "mcp.x.outil-é"];
    const codec = toolNameCodec(names);
    const wires = names.map((n) => codec.toWire(n));
    expect(new Set(wires).size).toBe(names.length);
    for (const [i, name] of names.entries()) {
      expect(wires[i]).toMatch(WIRE);
      expect(codec.fromWire(wires[i]!)).toBe(name);
    }
    // The name that is already wire-safe keeps itself; the dotted one steps aside.
    expect(codec.toWire("a__b")).toBe("a__b");
    expect(codec.toWire("a.b")).not.toBe("a__b");
  });

  it("builds the same table whatever order the tools come in", () => {
    const names = ["a.b", "a__b", "z.y", "mcp.q.r"];
    const one = toolNameCodec(names);
    const two = toolNameCodec([...names].reverse());
    expect(names.map((n) => one.toWire(n))).toEqual(names.map((n) => two.toWire(n)));
  });

  it("returns a name the model made up as it is", () => {
    expect(toolNameCodec(["TodoStore.add"]).fromWire("Secret__wipe")).toBe("Secret__wipe");
  });
});
