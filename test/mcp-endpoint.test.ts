import { discoverOAuthProtectedResourceMetadata, extractWWWAuthenticateParams } from "@modelcontextprotocol/sdk/client/auth.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, DEV_KEY, newApiKey, uniq, waitForRun } from "./helpers";
import { callTool as call, craneMcpClient } from "./crane-mcp-client";

const structured = <T>(r: CallToolResult) => {
  expect(r.isError, JSON.stringify(r.content)).toBeFalsy();
  return r.structuredContent as T;
};
const errorText = (r: CallToolResult) => {
  expect(r.isError).toBe(true);
  return (r.content[0] as { text: string }).text;
};

const initialize = {
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "x", version: "1" } },
};
const post = (body: unknown, headers: Record<string, string> = {}) =>
  exports.default.fetch(
    new Request("http://crane.test/mcp", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream", ...headers },
      body: JSON.stringify(body),
    }),
  );

describe("Crane as an MCP server (POST /mcp)", () => {
  it("answers 401 in the API's error shape before any MCP processing", async () => {
    for (const headers of [{}, { authorization: "Bearer crane_wrong" }] as Record<string, string>[]) {
      const res = await post(initialize, headers);
      expect(res.status).toBe(401);
      const body = (await res.json()) as { error: { code: string }; jsonrpc?: string };
      expect(body.error.code).toMatch(/api_key/);
      expect(body.jsonrpc).toBeUndefined();
    }
    expect((await exports.default.fetch(new Request("http://crane.test/mcp", { headers: { authorization: `Bearer ${DEV_KEY}` } }))).status).toBe(405);
  });

  it("answers a bad key with a Bearer challenge that points to its resource metadata and carries the real error", async () => {
    const missing = await post(initialize);
    expect(missing.headers.get("www-authenticate")).toBe(
      'Bearer realm="crane", resource_metadata="http://crane.test/.well-known/oauth-protected-resource/mcp"',
    );
    const wrong = await post(initialize, { authorization: "Bearer crane_wrong" });
    const challenge = wrong.headers.get("www-authenticate")!;
    expect(challenge).toContain('resource_metadata="http://crane.test/.well-known/oauth-protected-resource/mcp"');
    expect(challenge).toContain('error="invalid_token"');
    expect(challenge).toContain('error_description="invalid_api_key: This API key is not valid."');
    // The SDK reads the challenge as a client would.
    const { resourceMetadataUrl, error } = extractWWWAuthenticateParams(wrong);
    expect([resourceMetadataUrl?.href, error]).toEqual(["http://crane.test/.well-known/oauth-protected-resource/mcp", "invalid_token"]);
  });

  it("serves resource metadata that names no authorization server: the key is set by hand", async () => {
    const fetchFn = (url: string | URL, init?: RequestInit) => exports.default.fetch(new Request(url, init));
    for (const at of ["/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"]) {
      const res = await fetchFn(`http://crane.test${at}`);
      expect(res.status, at).toBe(200);
    }
    // As the SDK's client discovers it from the server's URL (path-specific address first).
    const metadata = await discoverOAuthProtectedResourceMetadata("http://crane.test/mcp", {}, fetchFn);
    expect(metadata).toEqual({
      resource: "http://crane.test/mcp",
      resource_name: "Crane",
      bearer_methods_supported: ["header"],
      resource_documentation: "http://crane.test/docs",
    });
  });

  it("shows a client without OAuth the real error, invalid_api_key, not an authorization flow", async () => {
    await expect(craneMcpClient("crane_wrong")).rejects.toThrow(/invalid_api_key/);
  });

  it("advertises only what a stateless server delivers: tools, without listChanged", async () => {
    const res = await post(initialize, { authorization: `Bearer ${DEV_KEY}` });
    const { result } = (await res.json()) as { result: { capabilities: Record<string, unknown> } };
    expect(result.capabilities.tools).toEqual({ listChanged: false });
    expect((await craneMcpClient()).getServerCapabilities()?.tools?.listChanged).toBe(false);
  });

  it("lists its tools, each with an input and an output schema", async () => {
    const { tools } = await (await craneMcpClient()).listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(["crane_cancel_run", "crane_decide", "crane_get_run", "crane_list_runs", "crane_plan", "crane_run"]);
    for (const t of tools) {
      expect(t.inputSchema.type).toBe("object");
      expect(t.outputSchema?.type, t.name).toBe("object");
    }
  });

  it("runs a prompt and answers with its result when it ends within the wait; reads and lists it", async () => {
    const c = await craneMcpClient();
    const ran = structured<{ run_id: string; status: string; ended: boolean; result: unknown }>(await call(c, "crane_run", { prompt: "calculate 6 * 7" }));
    expect(ran).toMatchObject({ status: "completed", ended: true, result: 42 });
    const got = structured<{ run: { run_id: string; plan: { steps: unknown[] } } }>(await call(c, "crane_get_run", { run_id: ran.run_id }));
    expect(got.run.run_id).toBe(ran.run_id);
    expect(got.run.plan.steps).toHaveLength(1);
    await waitForRun(ran.run_id);
    for (let i = 0; i < 100; i++) {
      const listed = structured<{ runs: { run_id: string }[] }>(await call(c, "crane_list_runs", { limit: 100 }));
      if (listed.runs.some((r) => r.run_id === ran.run_id)) return;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error("the run never showed in crane_list_runs");
  });

  it("runs a plan that calls a registered MCP server's tool", async () => {
    const name = `m-${uniq()}`;
    expect((await api("/mcp-servers", { method: "POST", json: { name, url: `${env.MCP_TEST_URL}/s/${name}/mcp` } })).status).toBe(201);
    const ran = structured<{ status: string; result: unknown }>(
      await call(await craneMcpClient(), "crane_run", {
        plan: { steps: [{ step_number: 1, tool: `mcp.${name}.add`, input: { a: 20, b: 22 } }] },
        wait_seconds: 20,
      }),
    );
    expect(ran).toMatchObject({ status: "completed", result: { sum: 42 } });
  });

  it("answers with the id and status when the run outlasts the wait, and cancels it", async () => {
    const c = await craneMcpClient();
    const plan = { steps: [{ step_number: 1, tool: "Human.approve", input: { message: "ship it?" } }] };
    const ran = structured<{ run_id: string; status: string; ended: boolean }>(await call(c, "crane_run", { plan, wait_seconds: 0 }));
    expect(ran.ended).toBe(false);
    const cancelled = structured<{ run: { status: string } }>(await call(c, "crane_cancel_run", { run_id: ran.run_id }));
    expect(cancelled.run.status).toBe("cancelled");
    expect(errorText(await call(c, "crane_cancel_run", { run_id: ran.run_id }))).toContain("run_finished");
  });

  it("decides a waiting approval", async () => {
    const c = await craneMcpClient();
    const plan = {
      steps: [
        { step_number: 1, tool: "Human.approve", input: { message: "ship it?" } },
        { step_number: 2, tool: "Calculator.evaluate", input: { expression: "1 + 1" }, depends_on: [1] },
      ],
    };
    const ran = structured<{ run_id: string }>(await call(c, "crane_run", { plan, wait_seconds: 0 }));
    await waitForRun(ran.run_id, (r) => r.status === "waiting");
    const decided = structured<{ step: { status: string } }>(await call(c, "crane_decide", { run_id: ran.run_id, step: 1, decision: "approve" }));
    expect(decided.step.status).toBe("succeeded");
    expect((await waitForRun(ran.run_id)).result).toBe(2);
    expect(errorText(await call(c, "crane_decide", { run_id: ran.run_id, step: 1, decision: "reject" }))).toContain("run_finished");
  });

  it("previews a plan, and refuses what REST refuses, as tool errors", async () => {
    const c = await craneMcpClient();
    const planned = structured<{ plan: { steps: { tool: string }[] } }>(await call(c, "crane_plan", { prompt: "calculate 2 + 3" }));
    expect(planned.plan.steps.map((s) => s.tool)).toEqual(["Calculator.evaluate"]);
    expect(errorText(await call(c, "crane_run", {}))).toContain('"prompt", "plan" or "agent"');
    expect(errorText(await call(c, "crane_run", { prompt: "calculate 1 + 1", agent: { goal: "g" } }))).toContain('exactly one of "prompt", "plan" or "agent"');
    // This project configures no model: an agent is refused at creation, as POST /runs refuses it.
    expect(errorText(await call(c, "crane_run", { agent: { goal: "add a todo" } }))).toMatch(/^model_not_configured: /);
    expect(errorText(await call(c, "crane_run", { plan: { steps: [{ step_number: 1, tool: "Nope.tool", input: {} }] } }))).toContain("invalid_plan");
    expect(errorText(await call(c, "crane_get_run", { run_id: "run_nope" }))).toContain("run_not_found");
  });

  it("keeps tenants apart: another tenant's run is not found", async () => {
    const ran = structured<{ run_id: string }>(await call(await craneMcpClient(), "crane_run", { prompt: "calculate 1 + 1" }));
    const other = await craneMcpClient((await newApiKey(`mcp-other-${uniq()}`)).secret);
    expect(errorText(await call(other, "crane_get_run", { run_id: ran.run_id }))).toContain("run_not_found");
    expect(errorText(await call(other, "crane_cancel_run", { run_id: ran.run_id }))).toContain("run_not_found");
    expect(errorText(await call(other, "crane_decide", { run_id: ran.run_id, step: 1, decision: "approve" }))).toContain("run_not_found");
    const listed = structured<{ runs: { run_id: string }[] }>(await call(other, "crane_list_runs", {}));
    expect(listed.runs.map((r) => r.run_id)).not.toContain(ran.run_id);
  });
});
