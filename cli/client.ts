/** A small HTTP client for Crane's API, shared by the CLI's commands. */
export interface ClientOptions {
  url: string;
  apiKey?: string | undefined;
}

export class CraneError extends Error {
  override name = "CraneError";
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export class CraneClient {
  private readonly base: string;
  private readonly apiKey: string | undefined;
  constructor(opts: ClientOptions) {
    this.base = opts.url.replace(/\/+$/, "");
    this.apiKey = opts.apiKey;
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.apiKey ? { authorization: `Bearer ${this.apiKey}` } : {}), ...extra };
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.base}/api/v1${path}`, {
        method,
        headers: this.headers(body === undefined ? {} : { "content-type": "application/json" }),
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (err) {
      throw new CraneError(0, "unreachable", `Cannot reach Crane at ${this.base}: ${(err as Error).message}`);
    }
    const data = (await res.json().catch(() => ({}))) as T & { error?: { code: string; message: string } };
    if (!res.ok) throw new CraneError(res.status, data.error?.code ?? "http_error", data.error?.message ?? `HTTP ${res.status}`);
    return data;
  }

  /**
   * Opens the run's event WebSocket; `after` resumes after that seq. The socket is opened with a
   * single-use watch token (the API key never goes into a URL, where logs keep it).
   */
  async watch(runId: string, after = 0): Promise<WebSocket> {
    const id = encodeURIComponent(runId);
    const { token } = await this.request<{ token: string }>("POST", `/runs/${id}/watch-token`);
    return new WebSocket(`${this.base.replace(/^http/, "ws")}/api/v1/runs/${id}/ws?after=${after}&token=${encodeURIComponent(token)}`);
  }
}
