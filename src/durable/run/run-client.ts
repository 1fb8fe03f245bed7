// The one typed client of a run object. RPC stub types flatten what they cannot follow (the
// run's JSON payloads are typed loosely, and a union result comes back widened), so every caller
// used to cast; here the object's own signatures are restated once, checked against the class.
import type { RunEvent } from "./run-events";
import type { Decision, SignalResult } from "./human-input";
import type { ControlAnswer, CreateRunInput, CreateRunResult, DecisionAnswer, LinkDecisionAnswer, RunObject } from "./run-object";
import type { IssueLinkResult, LinkLookup } from "./decision-links";
import type { RunResource } from "./run-view";
import type { RunUsage } from "../usage-meter";
import type { WatchToken } from "./watch-tokens";
import type { ChildNotice } from "./children";

export interface RunClient {
  create(input: CreateRunInput): Promise<CreateRunResult>;
  getRun(tenant: string): Promise<RunResource | null>;
  listEvents(tenant: string, after: number, limit: number): Promise<{ events: RunEvent[]; last_seq: number } | null>;
  issueWatchToken(tenant: string): Promise<WatchToken | "not_found" | "too_many">;
  cancel(tenant: string, options?: { compensate?: boolean; reason?: string }): Promise<ControlAnswer>;
  resume(tenant: string, cap: number): Promise<ControlAnswer>;
  pause(tenant: string, reason?: string): Promise<ControlAnswer>;
  decide(tenant: string, step: number, decision: Decision): Promise<DecisionAnswer>;
  signal(tenant: string, name: string, payload: unknown): Promise<SignalResult | { ok: false; code: "run_not_found" }>;
  getUsage(tenant: string): Promise<RunUsage | null>;
  issueDecisionLinks(tenant: string, step: number): Promise<IssueLinkResult | { ok: false; code: "run_not_found" }>;
  lookupDecisionLink(token: string): Promise<LinkLookup>;
  decideByLink(token: string, comment: string | null): Promise<LinkDecisionAnswer>;
  /** A child run tells its parent that it ended (the parent records it once). */
  childEnded(notice: ChildNotice): Promise<{ acknowledged: boolean }>;
  /** The object's fetch: WebSocket subscriptions. */
  fetch(request: Request): Promise<Response>;
}

// Each signature below must stay assignable from the class's own: a change there fails the build here.
type Own<K extends keyof RunObject> = RunObject[K];
const same = <K extends keyof RunClient & keyof RunObject>(_k: K, _check: Own<K> extends RunClient[K] ? true : never) => {};
same("create", true);
same("getRun", true);
same("listEvents", true);
same("issueWatchToken", true);
same("cancel", true);
same("resume", true);
same("pause", true);
same("decide", true);
same("signal", true);
same("getUsage", true);
same("issueDecisionLinks", true);
same("lookupDecisionLink", true);
same("decideByLink", true);
same("childEnded", true);

export function runClient(env: Env, runId: string): RunClient {
  const stub = env.RUNS.getByName(runId);
  const loose = stub as unknown as RunClient;
  return {
    fetch: (request) => stub.fetch(request),
    getUsage: (tenant) => loose.getUsage(tenant),
    create: (input) => loose.create(input),
    getRun: (tenant) => loose.getRun(tenant),
    listEvents: (tenant, after, limit) => loose.listEvents(tenant, after, limit),
    issueWatchToken: (tenant) => loose.issueWatchToken(tenant),
    cancel: (tenant, options) => loose.cancel(tenant, options),
    resume: (tenant, cap) => loose.resume(tenant, cap),
    pause: (tenant, reason) => loose.pause(tenant, reason),
    decide: (tenant, step, decision) => loose.decide(tenant, step, decision),
    signal: (tenant, name, payload) => loose.signal(tenant, name, payload),
    issueDecisionLinks: (tenant, step) => loose.issueDecisionLinks(tenant, step),
    lookupDecisionLink: (token) => loose.lookupDecisionLink(token),
    decideByLink: (token, comment) => loose.decideByLink(token, comment),
    childEnded: (notice) => loose.childEnded(notice),
  };
}
