import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { CraneClient, CraneError } from "../../cli/client.ts";

// A real local HTTP server that behaves as a restarting Crane: it drops connections, then answers
// 503, then answers for real. The client's waits between tries are made instant.

let server: Server | undefined;
afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

/** Serves `script` in order (then its last entry): "drop" destroys the socket, a number answers that status. */
async function restartingServer(script: ("drop" | number)[], body: unknown) {
  const seen: { method: string; url: string; key: string | undefined }[] = [];
  server = createServer((req, res) => {
    const step = script[Math.min(seen.length, script.length - 1)]!;
    seen.push({ method: req.method ?? "", url: req.url ?? "", key: req.headers["idempotency-key"] as string | undefined });
    req.resume();
    if (step === "drop") return void req.socket.destroy();
    res.writeHead(step, { "content-type": "application/json" });
    res.end(JSON.stringify(step < 300 ? body : { error: { code: "unavailable", message: "restarting" } }));
  });
  await new Promise<void>((r) => server!.listen(0, "127.0.0.1", () => r()));
  const url = `http://127.0.0.1:${(server!.address() as AddressInfo).port}`;
  return { seen, client: new CraneClient({ url, apiKey: "k", sleep: async () => {} }) };
}

const run = { run_id: "run_1", status: "completed", result: 42, error: null, execution_log: [] };

describe("the CLI across a server restart", () => {
  it("repeats `crane run`'s ?wait= POST across a lost connection and a 503, with one Idempotency-Key", async () => {
    const { seen, client } = await restartingServer(["drop", 503, 201], run);
    const submitted = await client.createRun({ prompt: "calculate 20 + 22" }, 10);
    expect(submitted.run).toMatchObject({ run_id: "run_1", status: "completed" });
    expect(seen.map((s) => s.method)).toEqual(["POST", "POST", "POST"]);
    expect(seen.every((s) => s.url === "/api/v1/runs?wait=10")).toBe(true);
    expect(seen[0]!.key).toMatch(/^crane-cli-/);
    expect(new Set(seen.map((s) => s.key)).size).toBe(1);
  });

  it("repeats a GET, and does not repeat a request that is not safe to (a decision)", async () => {
    const get = await restartingServer(["drop", 502, 200], run);
    expect((await get.client.getRun("run_1")).run_id).toBe("run_1");
    expect(get.seen).toHaveLength(3);
    await new Promise<void>((r) => server!.close(() => r()));

    const decide = await restartingServer(["drop"], {});
    await expect(decide.client.decide("run_1", 1, "approve")).rejects.toSatisfy((e) => e instanceof CraneError && e.code === "unreachable");
    expect(decide.seen).toHaveLength(1);
  });

  it("fails at once when Crane was never reached (refused, a bad port): a wrong --url is not waited on", async () => {
    // A port nobody listens on: the connection is refused before any answer.
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, "127.0.0.1", () => r()));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    let waits = 0;
    const client = new CraneClient({ url: `http://127.0.0.1:${port}`, apiKey: "k", sleep: async () => void waits++ });
    await expect(client.getRun("run_1")).rejects.toSatisfy((e) => e instanceof CraneError && e.code === "unreachable");
    expect(waits).toBe(0);
  });
});
