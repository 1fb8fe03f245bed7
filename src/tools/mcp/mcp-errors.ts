// What went wrong talking to an MCP server, as a step error. Retriability is not decided here:
// each case maps to a code whose policy the one table (src/execution/step-error.ts) holds.
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";
import { SseError } from "@modelcontextprotocol/sdk/client/sse.js";
import { StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ErrorCode, McpError } from "@modelcontextprotocol/sdk/types.js";
import { stepError, type StepError } from "../../execution/step-error";
import { AddressRefusedError } from "./guarded-fetch";

/** The HTTP status behind a transport error, when it had one. */
function httpStatus(err: unknown): number | undefined {
  if (err instanceof StreamableHTTPError || err instanceof SseError) return err.code;
  const m = err instanceof Error ? /\bHTTP (\d{3})\b|\((\d{3})\)/.exec(err.message) : null;
  return m ? Number(m[1] ?? m[2]) : undefined;
}

export function mcpStepError(err: unknown, server: string, signal?: AbortSignal): StepError {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof AddressRefusedError) return stepError("address_not_allowed", message);
  if (signal?.aborted) return stepError("upstream_timeout", `The MCP server "${server}" did not answer in time.`);
  if (err instanceof McpError) {
    if (err.code === ErrorCode.InvalidParams) return stepError("mcp_invalid_params", `The MCP server "${server}" refused the arguments: ${message}`);
    if (err.code === ErrorCode.RequestTimeout) return stepError("upstream_timeout", `The MCP server "${server}" did not answer in time.`);
    return stepError("mcp_protocol_error", `The MCP server "${server}" answered with an error: ${message}`);
  }
  if (err instanceof UnauthorizedError)
    return stepError("upstream_rejected", `The MCP server "${server}" wants authorization (HTTP 401); register it with the headers it needs.`);
  const status = httpStatus(err);
  if (status !== undefined && status >= 500) return stepError("upstream_error", `The MCP server "${server}" answered HTTP ${status}.`);
  if (status === 429) return stepError("upstream_rate_limited", `The MCP server "${server}" answered HTTP 429.`);
  if (status === 401 || status === 403)
    return stepError("upstream_rejected", `The MCP server "${server}" refused Crane's credentials (HTTP ${status}); check the headers it was registered with.`);
  if (status !== undefined && status >= 400)
    return stepError("upstream_rejected", `The MCP server "${server}" answered HTTP ${status}; retrying will not help.`);
  if (err instanceof TypeError) return stepError("upstream_unreachable", `Could not connect to the MCP server "${server}": ${message}`);
  return stepError("mcp_protocol_error", `The MCP server "${server}" failed: ${message}`);
}
