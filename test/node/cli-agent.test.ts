import { Command } from "commander";
import { describe, expect, it } from "vitest";
import { addAgentCommand, agentBody, collectNames } from "../../cli/agent-command.ts";
import { CraneClient } from "../../cli/client.ts";

// `crane agent`: its options become Agent.run's input in POST /runs `{ agent }`, against a fake server.
function fakeServer() {
  const posts: { url: string; body: unknown }[] = [];
  const fetch: typeof globalThis.fetch = async (input, init) => {
    posts.push({ url: String(input), body: JSON.parse(String(init?.body)) });
    const run = { run_id: "run_a", status: "completed", result: { answer: "done" }, error: null, execution_log: [] };
    return new Response(JSON.stringify(run), { status: 201, headers: { "content-type": "application/json" } });
  };
  const out: string[] = [];
  const io = () => ({
    client: new CraneClient({ url: "http://crane.test", apiKey: "k", fetch }),
    write: (t: string) => void out.push(t),
    progress: { tty: false },
  });
  const program = new Command().exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  addAgentCommand(program, io, () => false);
  return { program, posts, output: () => out.join("") };
}

describe("crane agent", () => {
  it("posts the goal and its options as { agent } and exits 0 when the run completed", async () => {
    const crane = fakeServer();
    process.exitCode = undefined;
    await crane.program.parseAsync(
      [
        "agent",
        "find the cheapest of three pages",
        "--tools",
        "Http.get,TodoStore.*",
        "--tools",
        "mcp.github.*",
        "--max-turns",
        "5",
        "--max-tokens",
        "20000",
        "--approve",
        "TodoStore.add",
      ],
      { from: "user" },
    );
    expect(crane.posts).toEqual([
      {
        // Followed from its first event (no ?wait), so the model's text shows as it is written.
        url: "http://crane.test/api/v1/runs",
        body: {
          agent: {
            goal: "find the cheapest of three pages",
            tools: ["Http.get", "TodoStore.*", "mcp.github.*"],
            approve: ["TodoStore.add"],
            max_turns: 5,
            budget: { max_tokens: 20000 },
          },
        },
      },
    ]);
    expect(process.exitCode).toBe(0);
    expect(crane.output()).toContain("run_a");
    process.exitCode = undefined;
  });

  it("refuses an out-of-range option before sending anything", async () => {
    for (const args of [
      ["--max-turns", "51"],
      ["--max-turns", "0"],
      ["--max-tokens", "1.5"],
      ["--max-cost-usd", "-1"],
      ["--tools", " , "],
    ]) {
      const crane = fakeServer();
      await expect(crane.program.parseAsync(["agent", "g", ...args], { from: "user" })).rejects.toMatchObject({ code: "commander.invalidArgument" });
      expect(crane.posts).toEqual([]);
    }
  });

  it("builds the body with only the options given", () => {
    expect(agentBody("g", {})).toEqual({ goal: "g" });
    expect(agentBody("g", { maxCostUsd: 0.5, model: "m" })).toEqual({ goal: "g", budget: { max_cost_usd: 0.5 }, model: "m" });
    expect(collectNames("a, b", ["x"])).toEqual(["x", "a", "b"]);
  });
});
