// Crane as an MCP server: its tools, for one authenticated tenant. Each tool does what the REST
// route of the same name does, through the same modules (startRun, the run object's RPC methods,
// makePlan, the D1 read model), with the same tenant isolation: another tenant's run id is "not
// found". A refusal is a tool error (isError) with the sentence the REST API would answer.
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { CfWorkerJsonSchemaValidator } from "@modelcontextprotocol/sdk/validation/cfworker-provider.js";
import { and, desc, eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { z } from "zod";
import pkg from "../../../package.json";
import type { Principal } from "../../auth/api-keys";
import { runs as runsTable } from "../../db/schema";
import { executionLogEntrySchema, planResourceSchema, runResourceSchema, type RunResource } from "../../durable/run/domain/run-resource";
import { startRun } from "../../durable/run/start-run";
import { runEnded, RUN_STATUSES, type RunStatus } from "../../execution/statuses";
import { makePlan } from "../../planner/make-plan";
import { MAX_PROMPT_LENGTH, planInputSchema } from "../../execution/plan-schema";
import { runClient } from "../../durable/run/run-client";
import { IDEMPOTENCY_KEY, RUN_ID } from "../schemas";
import { runSource } from "../runs";
import { agentInputSchema } from "../../tools/agent-run/agent-input";
import { dbFor } from "../../db/shards";

const MAX_WAIT_SECONDS = 30;
const errorInfo = z.object({ code: z.string(), message: z.string() });

const refused = (code: string, message: string): CallToolResult => ({ isError: true, content: [{ type: "text", text: `${code}: ${message}` }] });
const answer = <T extends Record<string, unknown>>(value: T) => ({
  content: [{ type: "text" as const, text: JSON.stringify(value) }],
  structuredContent: value,
});
const notFound = (runId: string) => refused("run_not_found", `No run has id "${runId}".`);

const runId = z.string().describe("A run id (run_…)");

/** A run's object, or undefined for an id that cannot be a run's (answered as not found, like REST). */
const stubFor = (env: Env, id: string) => (RUN_ID.test(id) ? runClient(env, id) : undefined);

function outcomeOf(run: RunResource) {
  return {
    run_id: run.run_id,
    status: run.status,
    ended: runEnded(run.status),
    result: run.result ?? null,
    error: run.error ? { code: run.error.code, message: run.error.message } : null,
  };
}

export function craneMcpServer(env: Env, principal: Principal): McpServer {
  const { tenant } = principal;
  const server = new McpServer({ name: "crane", version: pkg.version }, { jsonSchemaValidator: new CfWorkerJsonSchemaValidator() });

  server.registerTool(
    "crane_run",
    {
      description: `Starts a Crane run from a task in plain words (prompt), an explicit plan, or an agent (one Agent.run step: a model that calls tools, sees their results and answers), and waits up to wait_seconds (default 10, at most ${MAX_WAIT_SECONDS}) for it to end: the answer has its result when it ended, else its id and status (follow it with crane_get_run).`,
      inputSchema: {
        prompt: z.string().max(MAX_PROMPT_LENGTH).optional().describe("The task in plain words"),
        plan: planInputSchema.optional().describe("An explicit plan: { steps: [{ step_number, tool, input, depends_on }] }"),
        agent: agentInputSchema
          .optional()
          .describe(
            "An agent: { goal, tools?, approve?, max_turns?, budget?, model?, system?, output_schema? }, as POST /runs' agent; the run is that one Agent.run step",
          ),
        wait_seconds: z.number().min(0).max(MAX_WAIT_SECONDS).optional(),
        idempotency_key: z
          .string()
          .regex(IDEMPOTENCY_KEY)
          .optional()
          .describe(
            "Makes the call safe to repeat (after a lost connection, say): the same key with the same prompt, plan or agent answers the run it started, as POST /runs' Idempotency-Key does",
          ),
      },
      outputSchema: {
        run_id: z.string(),
        status: z.enum(RUN_STATUSES),
        ended: z.boolean().describe("Whether the run had ended when this answered"),
        result: z.unknown().describe("The run's result, once it completed"),
        error: errorInfo.nullable(),
      },
    },
    async (args) => {
      const given = [args.prompt, args.plan, args.agent].filter((v) => v !== undefined).length;
      if (given !== 1) return refused("validation_failed", 'Give exactly one of "prompt", "plan" or "agent".');
      const waitMs = Math.round((args.wait_seconds ?? 10) * 1000);
      const { idempotency_key: key, wait_seconds: _wait, ...what } = args;
      const result = await startRun(env, {
        tenant,
        ...(principal.retention_days ? { retention_days: principal.retention_days } : {}),
        // What a repeat with the same key must match: the task, not how long this call waits.
        body: { ...what, via: "mcp" },
        source: args.agent !== undefined ? runSource({ agent: args.agent }) : args.plan !== undefined ? { plan: args.plan } : { prompt: args.prompt! },
        options: {},
        ...(waitMs > 0 ? { wait_ms: waitMs } : {}),
        ...(key ? { idempotency_key: key } : {}),
      });
      if (!result.ok) {
        if (result.code === "too_many_runs_in_flight")
          return refused(result.code, `This tenant has ${result.in_flight} runs in flight, its limit (${result.cap}).`);
        if (result.code === "idempotency_conflict")
          return refused(result.code, "This idempotency_key was used for a different prompt, plan or agent; use a new key for a new run.");
        const details = result.details ? ` ${JSON.stringify(result.details)}` : "";
        return refused(result.code, `${result.message}${details}`);
      }
      return answer(outcomeOf(result.run));
    },
  );

  server.registerTool(
    "crane_get_run",
    {
      description: "One run as it stands: status, plan, execution log (one entry per step), result, error.",
      inputSchema: { run_id: runId },
      outputSchema: { run: runResourceSchema },
    },
    async ({ run_id }) => {
      const run = await stubFor(env, run_id)?.getRun(tenant);
      return run ? answer({ run }) : notFound(run_id);
    },
  );

  server.registerTool(
    "crane_list_runs",
    {
      description: "The tenant's runs, newest first (a new run shows a few milliseconds after it was created).",
      inputSchema: { status: z.enum(RUN_STATUSES).optional(), limit: z.number().int().min(1).max(100).optional() },
      outputSchema: {
        runs: z.array(
          z.object({
            run_id: z.string(),
            prompt: z.string().nullable(),
            status: z.string(),
            step_count: z.number().int(),
            error: errorInfo.nullable(),
            created_at: z.string(),
            completed_at: z.string().nullable(),
          }),
        ),
      },
    },
    async ({ status, limit }) => {
      const rows = await drizzle(dbFor(env, tenant))
        .select()
        .from(runsTable)
        .where(and(eq(runsTable.tenant, tenant), status ? eq(runsTable.status, status as RunStatus) : undefined))
        .orderBy(desc(runsTable.created_at), desc(runsTable.run_id))
        .limit(limit ?? 20)
        .all();
      return answer({
        runs: rows.map((r) => ({
          run_id: r.run_id,
          prompt: r.prompt,
          status: r.status,
          step_count: r.step_count,
          error: r.error_code ? { code: r.error_code, message: r.error_message ?? "" } : null,
          created_at: r.created_at,
          completed_at: r.completed_at,
        })),
      });
    },
  );

  server.registerTool(
    "crane_cancel_run",
    { description: "Cancels a run that has not ended.", inputSchema: { run_id: runId }, outputSchema: { run: runResourceSchema } },
    async ({ run_id }) => {
      const stub = stubFor(env, run_id);
      if (!stub) return notFound(run_id);
      const result = await stub.cancel(tenant);
      if (result.ok) return answer({ run: result.run });
      if (result.code === "run_not_found") return notFound(run_id);
      return refused(result.code, "message" in result ? result.message : "The run cannot be cancelled.");
    },
  );

  server.registerTool(
    "crane_plan",
    {
      description: "The plan a prompt would run, without running it.",
      inputSchema: { prompt: z.string().max(MAX_PROMPT_LENGTH) },
      outputSchema: { plan: planResourceSchema },
    },
    async ({ prompt }) => {
      const planned = await makePlan({ prompt }, env, tenant);
      if (!planned.ok) return refused(planned.code, planned.message);
      return answer({ plan: planned.plan });
    },
  );

  server.registerTool(
    "crane_decide",
    {
      description: "Approves or rejects a run's waiting approval step (Human.approve), or with `call` an agent step's waiting tool call. Counts once.",
      inputSchema: {
        run_id: runId,
        step: z.number().int().min(1),
        decision: z.enum(["approve", "reject"]),
        comment: z.string().max(2000).optional(),
        call: z
          .number()
          .int()
          .positive()
          .optional()
          .describe("An Agent.run step: the number of its waiting tool call (approve runs it; reject gives the model the comment)"),
      },
      outputSchema: { step: executionLogEntrySchema },
    },
    async ({ run_id, step, decision, comment, call }) => {
      const stub = stubFor(env, run_id);
      if (!stub) return notFound(run_id);
      const result = await stub.decide(tenant, step, { decision, comment: comment ?? null, by: principal.key_id, ...(call !== undefined ? { call } : {}) });
      if (result.ok) return answer({ step: result.step });
      if (result.code === "run_not_found") return notFound(run_id);
      return refused(result.code, result.message);
    },
  );

  return server;
}
