import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

// The CLI's progress output under a real terminal (tmux): a step turned away again and again by
// an open breaker is one line rewritten in place, not a wall of lines. What tmux shows is what a
// person sees, after every cursor movement and erase the CLI sent.
const TMUX = ["-L", `crane-tty-${process.pid}`];
const tmux = (...args: string[]) => execFileSync("tmux", [...TMUX, ...args], { encoding: "utf8" });
const screen = () =>
  tmux("capture-pane", "-p", "-J", "-S", "-", "-t", "tty")
    .split("\n")
    .filter((l) => l.trim() !== "");

async function until(what: string, ok: (lines: string[]) => boolean): Promise<string[]> {
  for (let i = 0; i < 500; i++) {
    const lines = screen();
    if (ok(lines)) return lines;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`the terminal never showed ${what}:\n${screen().join("\n")}`);
}

afterAll(() => {
  try {
    tmux("kill-server");
  } catch {
    // no session was started
  }
});

describe("crane's progress in a terminal", () => {
  it("folds five deferrals of a step into one line updated in place, then a summary", async () => {
    const gate = join(mkdtempSync(join(tmpdir(), "crane-tty-")), "go");
    tmux("new-session", "-d", "-s", "tty", "-x", "160", "-y", "40", `${process.execPath} test/e2e/fixtures/fold-driver.ts ${gate}`);
    const during = await until('"deferred 5×"', (l) => l.some((x) => x.includes("deferred 5×")));
    // The first dispatch's line, once; then every later dispatch and deferral on the one fold line.
    expect(during.filter((l) => l.includes("step 2 Http.get"))).toEqual([
      expect.stringMatching(/^▶ step 2 Http\.get attempt 1 /),
      expect.stringMatching(/^⏸ step 2 Http\.get waiting for its breaker \(deferred 5×, next try \d\d:\d\d:\d\d\)/),
    ]);
    expect(during.some((l) => /deferred [1-4]×/.test(l))).toBe(false); // earlier counts were rewritten, not left above

    writeFileSync(gate, "");
    const after = await until('"driver done"', (l) => l.some((x) => x.includes("driver done")));
    expect(after.filter((l) => l.includes("step 2 Http.get"))).toEqual([
      expect.stringMatching(/^▶ step 2 Http\.get attempt 1 /),
      expect.stringMatching(/^⏸ step 2 Http\.get waited for its breaker \(deferred 5× over 25 s\)/),
      expect.stringMatching(/^✓ step 2 Http\.get 40 ms/),
    ]);
    expect(after.filter((l) => l.includes("run completed"))).toHaveLength(1);
  });
});
