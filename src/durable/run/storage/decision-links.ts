/**
 * Decision links, kept in the run object's SQLite: a pair of random tokens (approve, reject) for
 * one waiting Human.approve step, to put in a message or an email. Only a hash is stored. A link
 * is good for the wait it was made for (the step's dispatch) until that wait's timeout, and for
 * one use: once either link of a pair has decided, both are spent. A link decides without an API
 * key, so the token is the whole credential: 24 random bytes, and a page that shows it changes
 * nothing (a mail scanner that follows the URL decides nothing; only the page's POST does).
 */
import { sha256Hex } from "../../../lib/hash";
import { TERMINAL_RUN, type RunState } from "../domain/state";

export type LinkDecision = "approve" | "reject";

/** Unexpired links one run keeps at most (two per pair): plenty for any one person's inbox. */
export const MAX_LIVE_LINKS = 40;

const TOKEN = /^dl_[0-9a-f]{48}$/;

interface LinkRow {
  step: number;
  dispatch: number;
  decision: LinkDecision;
  pair: string;
  expires_at: number;
  used_at: number | null;
}

/** A link as its page shows it: what it decides, on which step, and what the person is asked. */
export interface LinkInfo {
  run_id: string;
  step: number;
  decision: LinkDecision;
  message: string;
  expires_at: string;
  pair: string;
}

export type LinkLookup =
  { ok: true; link: LinkInfo } | { ok: false; code: "link_not_found"; message: string } | { ok: false; code: "link_used" | "step_decided"; message: string };

export type IssueLinkResult =
  | { ok: true; approve: string; reject: string; expires_at: string }
  | { ok: false; code: "step_not_found" | "step_not_waiting" | "too_many_links"; message: string };

/** The stored hash of a link's token; null for text that cannot be one (nothing to look up). */
export const linkHash = async (token: string): Promise<string | null> => (TOKEN.test(token) ? sha256Hex(token) : null);

const randomToken = () => `dl_${[...crypto.getRandomValues(new Uint8Array(24))].map((b) => b.toString(16).padStart(2, "0")).join("")}`;

export class DecisionLinks {
  /** Created with the first link: most runs never have one. */
  private hasTable: boolean;

  constructor(
    private readonly sql: SqlStorage,
    tables: ReadonlySet<string>,
  ) {
    this.hasTable = tables.has("decision_links");
  }

  /** A new pair for `step`, which must be a waiting approval: valid until its wait ends. */
  async issue(state: RunState, step: number, now: number): Promise<IssueLinkResult> {
    // Hashed first: from the checks to the inserts nothing awaits, so the step cannot change between.
    const [approve, reject] = [randomToken(), randomToken()];
    const [approveHash, rejectHash] = await Promise.all([sha256Hex(approve), sha256Hex(reject)]);
    const s = state.steps.get(step);
    if (!s) return { ok: false, code: "step_not_found", message: `This run has no step ${step}.` };
    if (s.tool !== "Human.approve") return { ok: false, code: "step_not_waiting", message: `Step ${step} is ${s.tool}, not an approval.` };
    if (s.status !== "waiting" || s.wait_until === null || s.wait_until <= now || s.dispatch_seq === null) {
      return { ok: false, code: "step_not_waiting", message: `Step ${step} is ${s.status}; links are made for an approval while it waits.` };
    }
    if (!this.hasTable) {
      this.sql.exec(
        `CREATE TABLE IF NOT EXISTS decision_links (hash TEXT PRIMARY KEY, step INTEGER NOT NULL, dispatch INTEGER NOT NULL, decision TEXT NOT NULL, pair TEXT NOT NULL, expires_at INTEGER NOT NULL, used_at INTEGER)`,
      );
      this.hasTable = true;
    }
    this.sql.exec(`DELETE FROM decision_links WHERE expires_at <= ?`, now);
    if (this.sql.exec<{ n: number }>(`SELECT count(*) AS n FROM decision_links`).one().n + 2 > MAX_LIVE_LINKS) {
      return { ok: false, code: "too_many_links", message: `This run has ${MAX_LIVE_LINKS / 2} unexpired pairs of links; use one of them.` };
    }
    const insert = `INSERT INTO decision_links (hash, step, dispatch, decision, pair, expires_at) VALUES (?, ?, ?, ?, ?, ?)`;
    this.sql.exec(insert, approveHash, step, s.dispatch_seq, "approve", approveHash, s.wait_until);
    this.sql.exec(insert, rejectHash, step, s.dispatch_seq, "reject", approveHash, s.wait_until);
    return { ok: true, approve, reject, expires_at: new Date(s.wait_until).toISOString() };
  }

  /**
   * What a link would decide now, or why it will not. Reads only, and synchronously, so a caller
   * can check and decide in one turn. Unknown, malformed and expired links (and a link for an
   * earlier wait of a resumed step) are all "not found"; a link whose pair was used, or whose
   * step was decided some other way, is a conflict.
   */
  find(state: RunState, hash: string | null, now: number): LinkLookup {
    const notFound = { ok: false, code: "link_not_found", message: "This link is unknown or has expired." } as const;
    if (!this.hasTable || hash === null) return notFound;
    const row = this.sql.exec(`SELECT * FROM decision_links WHERE hash = ?`, hash).toArray()[0] as LinkRow | undefined;
    if (!row || row.expires_at <= now) return notFound;
    if (row.used_at !== null) return { ok: false, code: "link_used", message: "This link was used already: the step is decided." };
    const s = state.steps.get(row.step);
    if (!s || (s.status === "waiting" && s.dispatch_seq !== row.dispatch)) return notFound;
    if (s.status !== "waiting" || TERMINAL_RUN.has(state.status)) {
      return { ok: false, code: "step_decided", message: `Step ${row.step} is not waiting for a decision any more (it is ${s.status}).` };
    }
    const input = (s.resolved_input ?? s.input) as { message?: unknown };
    return {
      ok: true,
      link: {
        run_id: state.run_id,
        step: row.step,
        decision: row.decision,
        message: typeof input.message === "string" ? input.message : "",
        expires_at: new Date(row.expires_at).toISOString(),
        pair: row.pair,
      },
    };
  }

  /** Spends both links of a pair; called in the same turn as the decision it made. */
  spend(pair: string, now: number): void {
    this.sql.exec(`UPDATE decision_links SET used_at = ? WHERE pair = ?`, now, pair);
  }
}
