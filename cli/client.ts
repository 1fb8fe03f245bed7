/** A small HTTP client for Crane's API, shared by the CLI's commands. */
import { z } from "zod";

/** The part of a WebSocket the CLI uses, so tests can hand in a fake one. */
export interface EventSocket {
  addEventListener(type: "message", listener: (m: { data: unknown }) => void): void;
  addEventListener(type: "open" | "close" | "error", listener: () => void): void;
  close(code?: number): void;
}

export interface ClientOptions {
  url: string;
  apiKey?: string | undefined;
  /** Defaults to the global fetch; tests pass a fake. */
  fetch?: typeof fetch;
  /** Defaults to `new WebSocket(url)`; tests pass a fake. */
  openSocket?: (url: string) => EventSocket;
  /**
   * How long a request that is safe to repeat keeps being retried across lost connections and
   * 5xx answers (a server restarting, a deploy), in ms. Default 2 minutes; 0 never retries.
   */
  retryBudgetMs?: number;
  /** Waits between retries; tests pass a fast one. */
  sleep?: (ms: number) => Promise<void>;
}

const DEFAULT_RETRY_BUDGET_MS = 120_000;
/** Errors of a connection that was open and then went away (Node's fetch puts the code on `cause`). */
const LOST_CONNECTION: ReadonlySet<string> = new Set(["ECONNRESET", "EPIPE", "ECONNABORTED", "UND_ERR_SOCKET", "UND_ERR_CLOSED"]);
const FIRST_RETRY_MS = 250;
const MAX_RETRY_MS = 4000;

/** What a request may do when it fails without an answer: repeat it (GETs, and POSTs made safe by an Idempotency-Key) or not. */
interface SendOptions {
  retry?: boolean;
  headers?: Record<string, string>;
}

export class CraneError extends Error {
  override name = "CraneError";
  readonly status: number;
  readonly code: string;
  /** The error's `details` as the server sent them (for example the values a field allows). */
  readonly details: unknown;
  constructor(status: number, code: string, message: string, details?: unknown) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

// What the CLI reads of the API's answers. Loose objects: fields it does not use (and fields a
// newer server adds) pass through untouched, so `--json` prints the whole resource.
const stepEntrySchema = z.looseObject({
  step_number: z.number(),
  tool: z.string(),
  status: z.string(),
  attempts: z.number(),
  duration_ms: z.number().nullable(),
  error: z.looseObject({ message: z.string() }).nullable(),
  completed_at: z.string().nullable().optional(),
  skip_reason: z.string().nullable().optional(),
  /** How often an open breaker turned the step away (servers that count it). */
  deferrals: z.number().optional(),
  /** An Agent.run step's turns: its text and the tool calls the model asked for. */
  turns: z
    .array(
      z.looseObject({
        turn: z.number(),
        text: z.string().nullable().optional(),
        calls: z.array(
          z.looseObject({
            call: z.number(),
            tool: z.string(),
            input: z.unknown(),
            status: z.string(),
            error: z.looseObject({ message: z.string() }).nullable().optional(),
          }),
        ),
      }),
    )
    .optional(),
});

export const runSchema = z.looseObject({
  run_id: z.string(),
  status: z.string(),
  result: z.unknown(),
  error: z.looseObject({ message: z.string() }).nullable(),
  execution_log: z.array(stepEntrySchema),
});
export type Run = z.infer<typeof runSchema>;
export type StepEntry = z.infer<typeof stepEntrySchema>;

export const wireEventSchema = z.object({ seq: z.number(), type: z.string(), at: z.string(), data: z.record(z.string(), z.unknown()) });
export type WireEvent = z.infer<typeof wireEventSchema>;

const eventPageSchema = z.looseObject({ events: z.array(wireEventSchema), next_after: z.number(), has_more: z.boolean() });

/** The API's answer to POST /runs: 201 created, 200 a replay, 202 accepted but not finished yet. */
export interface Submitted {
  httpStatus: number;
  run: Run;
}

export class CraneClient {
  readonly url: string;
  private readonly apiKey: string | undefined;
  private readonly fetch: typeof fetch;
  private readonly openSocket: (url: string) => EventSocket;
  private readonly retryBudgetMs: number;
  private readonly sleep: (ms: number) => Promise<void>;
  /** Crane has answered, or held a connection that then dropped, in this process: a failure now is a restart, not a wrong URL. */
  private reached = false;
  constructor(opts: ClientOptions) {
    this.url = opts.url.replace(/\/+$/, "");
    this.apiKey = opts.apiKey;
    this.fetch = opts.fetch ?? ((input, init) => fetch(input, init));
    this.openSocket = opts.openSocket ?? ((url) => new WebSocket(url));
    this.retryBudgetMs = opts.retryBudgetMs ?? DEFAULT_RETRY_BUDGET_MS;
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.apiKey ? { authorization: `Bearer ${this.apiKey}` } : {}), ...extra };
  }

  /**
   * One request. GETs, and requests the caller marks safe to repeat (`retry`), are tried again
   * across a lost connection or a 5xx answer, with backoff, for up to the retry budget: a server
   * that restarts mid-request (a deploy, `wrangler dev` restarted) is waited for, not reported.
   */
  private async send(method: string, path: string, body?: unknown, opts: SendOptions = {}): Promise<{ status: number; data: unknown }> {
    const retry = (opts.retry ?? method === "GET") && this.retryBudgetMs > 0;
    const giveUpAt = Date.now() + this.retryBudgetMs;
    for (let delay = FIRST_RETRY_MS; ; delay = Math.min(delay * 2, MAX_RETRY_MS)) {
      let res: Response;
      try {
        res = await this.fetch(`${this.url}/api/v1${path}`, {
          method,
          headers: this.headers({ ...(body === undefined ? {} : { "content-type": "application/json" }), ...opts.headers }),
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
      } catch (err) {
        // A connection that was open and then lost means Crane was there: a restart, waited for.
        // Anything else before Crane ever answered (refused, a bad port, an unknown host) is most
        // likely a wrong --url or a server not started, which waiting two minutes would only hide.
        if (LOST_CONNECTION.has((err as { cause?: { code?: string } }).cause?.code ?? "")) this.reached = true;
        if (retry && this.reached && Date.now() + delay < giveUpAt) {
          await this.sleep(delay);
          continue;
        }
        throw new CraneError(0, "unreachable", `Cannot reach Crane at ${this.url}: ${(err as Error).message}`);
      }
      this.reached = true;
      if (retry && res.status >= 500 && res.status !== 501 && Date.now() + delay < giveUpAt) {
        await res.body?.cancel();
        await this.sleep(delay);
        continue;
      }
      return this.answer(res);
    }
  }

  private async answer(res: Response): Promise<{ status: number; data: unknown }> {
    const data: unknown = await res.json().catch(() => ({}));
    if (!res.ok) {
      const error = z.object({ error: z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() }) }).safeParse(data);
      throw new CraneError(res.status, error.data?.error.code ?? "http_error", error.data?.error.message ?? `HTTP ${res.status}`, error.data?.error.details);
    }
    return { status: res.status, data };
  }

  private static parse<S extends z.ZodType>(schema: S, data: unknown, what: string): z.output<S> {
    const parsed = schema.safeParse(data);
    if (!parsed.success) throw new CraneError(0, "unexpected_response", `Crane answered with ${what} the CLI does not understand: ${parsed.error.message}`);
    return parsed.data;
  }

  /** For answers the CLI only prints or reads loosely (lists, tools). */
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    return (await this.send(method, path, body)).data as T;
  }

  async getRun(runId: string): Promise<Run> {
    const { data } = await this.send("GET", `/runs/${encodeURIComponent(runId)}`);
    return CraneClient.parse(runSchema, data, "a run");
  }

  /**
   * Submits a run. With `waitS` > 0 the server may hold the answer up to that many seconds and
   * answer with the run already ended; a server that does not know `wait` ignores it.
   */
  async createRun(body: { prompt: string } | { agent: Record<string, unknown> }, waitS: number): Promise<Submitted> {
    // The key makes the POST safe to repeat: a retry after a lost connection (the server may have
    // made the run before it went away) answers the run it made instead of making another.
    const key = `crane-cli-${crypto.randomUUID()}`;
    const { status, data } = await this.send("POST", waitS > 0 ? `/runs?wait=${waitS}` : "/runs", body, { retry: true, headers: { "idempotency-key": key } });
    return { httpStatus: status, run: CraneClient.parse(runSchema, data, "a run") };
  }

  /** POST /runs/{id}/cancel, /pause or /resume: the run as it is afterwards. `compensate`: cancel, then undo what succeeded. */
  async controlRun(runId: string, action: "cancel" | "resume" | "pause", compensate = false): Promise<Run> {
    const { data } = await this.send("POST", `/runs/${encodeURIComponent(runId)}/${action}`, compensate ? { compensate: true } : undefined);
    return CraneClient.parse(runSchema, data, "a run");
  }

  /** POST /runs/{id}/rerun: a new run forked from an ended one at `fromStep`, with changes to that step's input. */
  async rerun(runId: string, fromStep: number, input?: Record<string, unknown>): Promise<Run> {
    const { data } = await this.send("POST", `/runs/${encodeURIComponent(runId)}/rerun`, { from_step: fromStep, ...(input ? { input } : {}) });
    return CraneClient.parse(runSchema, data, "a run");
  }

  /** POST /runs/{id}/steps/{step}/decision: approves or rejects a waiting approval (an agent step's: its call); the step afterwards. */
  async decide(runId: string, step: number, decision: "approve" | "reject", comment?: string, call?: number): Promise<unknown> {
    const path = `/runs/${encodeURIComponent(runId)}/steps/${step}/decision`;
    return (await this.send("POST", path, { decision, ...(comment !== undefined ? { comment } : {}), ...(call !== undefined ? { call } : {}) })).data;
  }

  /** POST /runs/{id}/signals/{name}: which step took it (null: kept for a step that waits later). */
  async signal(runId: string, name: string, payload: unknown): Promise<{ seq: number; delivered_to: number | null }> {
    const { data } = await this.send(
      "POST",
      `/runs/${encodeURIComponent(runId)}/signals/${encodeURIComponent(name)}`,
      payload === undefined ? {} : { payload },
    );
    return CraneClient.parse(z.object({ seq: z.number(), delivered_to: z.number().nullable() }), data, "a signal receipt");
  }

  /** Every event of the run after `after`, over HTTP (page by page). */
  async events(runId: string, after = 0): Promise<WireEvent[]> {
    const all: WireEvent[] = [];
    for (let more = true; more;) {
      const { data } = await this.send("GET", `/runs/${encodeURIComponent(runId)}/events?after=${after}&limit=1000`);
      const page = CraneClient.parse(eventPageSchema, data, "an event page");
      all.push(...page.events);
      more = page.has_more && page.next_after > after;
      after = page.next_after;
    }
    return all;
  }

  /**
   * Opens the run's event WebSocket; `after` resumes after that seq. The socket is opened with a
   * fresh watch token (the API key never goes into a URL, where logs keep it).
   */
  async watch(runId: string, after = 0): Promise<EventSocket> {
    const id = encodeURIComponent(runId);
    // Not retried here: follow.ts reconnects (token and socket together) with a backoff of its own.
    const { data } = await this.send("POST", `/runs/${id}/watch-token`, undefined, { retry: false });
    const { token } = CraneClient.parse(z.object({ token: z.string() }), data, "a watch token");
    return this.openSocket(`${this.url.replace(/^http/, "ws")}/api/v1/runs/${id}/ws?after=${after}&token=${encodeURIComponent(token)}`);
  }
}
