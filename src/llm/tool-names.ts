// Crane's tool names have dots (`TodoStore.add`, `mcp.github.create_issue`), and OpenAI-style
// function names may not: `^[a-zA-Z0-9_-]{1,64}$`. Each call offers a known set of tools, so the
// names are mapped through a table built from that set: readable where possible (`.` → `__`), a
// short hash where that would collide or break the rules. The table depends only on the set's
// names (sorted), so a replayed call builds the same wire names.
import { fnv1a } from "./fnv";

const WIRE_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

export interface ToolNameCodec {
  /** The name the model sees. A name outside the set is encoded by the same rule, uncached. */
  toWire(name: string): string;
  /** The Crane name for a wire name; a name the set does not hold (one the model made up) is returned as it is. */
  fromWire(wire: string): string;
}

function readable(name: string): string {
  return name.replaceAll(".", "__");
}

function hashed(name: string): string {
  const prefix = name.replace(/[^a-zA-Z0-9_-]/g, "_").slice(0, 48);
  return `${prefix}_h${fnv1a(name)}`;
}

export function toolNameCodec(names: readonly string[]): ToolNameCodec {
  const sorted = [...new Set(names)].sort();
  const toWire = new Map<string, string>();
  const fromWire = new Map<string, string>();
  // First pass: names that are wire-safe as they are keep them, so a model answering with the
  // exact name (e.g. `lookup`) is understood, and the readable form of a dotted name cannot take it.
  for (const name of sorted) {
    if (WIRE_NAME.test(name)) {
      toWire.set(name, name);
      fromWire.set(name, name);
    }
  }
  for (const name of sorted) {
    if (toWire.has(name)) continue;
    let wire = readable(name);
    if (!WIRE_NAME.test(wire) || fromWire.has(wire)) wire = hashed(name);
    toWire.set(name, wire);
    fromWire.set(wire, name);
  }
  return {
    toWire: (name) => toWire.get(name) ?? (WIRE_NAME.test(readable(name)) ? readable(name) : hashed(name)),
    fromWire: (wire) => fromWire.get(wire) ?? wire,
  };
}
