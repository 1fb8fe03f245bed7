import { existsSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A local server speaking the OpenAI chat-completions wire protocol (POST /v1/chat/completions),
 * answering with recorded responses chosen by the request's model:
 *   valid-parallel  a valid parallel plan          unknown-tool  a plan using a tool that does not exist
 *   invalid-json    prose instead of JSON          repair        a schema violation, then (when told) a valid plan
 *   slow            the valid plan after 3 s       error-500     HTTP 500     error-401  HTTP 401
 *   mcp-tool        a plan calling the MCP tool mcp.llmcalc.add, then saving its sum as a todo
 * GET /requests lists what it was asked (model, message count, whether the tool catalogue was sent,
 * the MCP tools it offered).
 */
function fixture(name: string): unknown {
  const file = new URL(`./fixtures/${name}.json`, import.meta.url);
  return existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : undefined;
}

interface ChatRequest {
  model: string;
  messages: { role: string; content: unknown }[];
}

export function startMockOpenAI(): Promise<Server> {
  const seen: { model: string; messages: number; catalogue: boolean; repair: boolean; mcp_tools: string[] }[] = [];
  const server = createServer((req, res) => {
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (req.method === "GET" && req.url === "/requests") return json(200, seen);
    if (req.method !== "POST" || req.url !== "/v1/chat/completions") return json(404, { error: { message: "not found", type: "invalid_request_error" } });
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      const request = JSON.parse(body) as ChatRequest;
      const text = JSON.stringify(request.messages);
      const repair = text.includes("That plan cannot run");
      seen.push({
        model: request.model,
        messages: request.messages.length,
        catalogue: text.includes("Calculator.evaluate") && text.includes("input_schema"),
        repair,
        mcp_tools: [...new Set(text.match(/mcp\.[a-z0-9-]+\.[A-Za-z0-9_-]+/g) ?? [])],
      });
      switch (request.model) {
        case "error-500":
          return json(500, fixture("error-500"));
        case "error-401":
          return json(401, fixture("error-401"));
        case "slow":
          return setTimeout(() => json(200, (fixture("valid-parallel") as unknown[])[0]), 3000);
        case "repair":
          return json(200, (fixture("repair") as unknown[])[repair ? 1 : 0]);
        default: {
          const recorded = fixture(request.model) as unknown[] | undefined;
          return recorded
            ? json(200, recorded[0])
            : json(404, { error: { message: `The model '${request.model}' does not exist`, type: "invalid_request_error", code: "model_not_found" } });
        }
      }
    });
  });
  // Unreferenced: it is started with the test config and must not keep the test run alive.
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server.unref())));
}

export const mockUrl = (server: Server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
