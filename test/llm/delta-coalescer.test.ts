import { describe, expect, it } from "vitest";
import { deltaCoalescer } from "../../src/llm/delta-coalescer";

function harness() {
  let t = 0;
  const emitted: string[] = [];
  const c = deltaCoalescer((text) => emitted.push(text), { now: () => t });
  return { c, emitted, advance: (ms: number) => (t += ms) };
}

describe("the delta coalescer", () => {
  it("hands on at most one delta per 100 ms", () => {
    const { c, emitted, advance } = harness();
    c.push("a"); // the first goes at once
    advance(40);
    c.push("b");
    advance(40);
    c.push("c");
    expect(emitted).toEqual(["a"]);
    advance(20); // 100 ms since the last
    c.push("d");
    expect(emitted).toEqual(["a", "bcd"]);
    c.push("e");
    c.flush();
    expect(emitted).toEqual(["a", "bcd", "e"]);
  });

  it("hands on early once 2 KiB of UTF-8 wait, counting bytes, not characters", () => {
    const { c, emitted } = harness();
    c.push("x");
    // 1023 two-byte characters are 2046 bytes: still under 2 KiB.
    c.push("é".repeat(1023));
    expect(emitted).toEqual(["x"]);
    c.push("é"); // 2048 bytes (1024 characters, far under 2048 characters)
    expect(emitted).toEqual(["x", "é".repeat(1024)]);
  });

  it("flushes nothing when nothing waits", () => {
    const { c, emitted } = harness();
    c.flush();
    c.push("");
    expect(emitted).toEqual([]);
  });
});
