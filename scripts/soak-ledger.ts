/**
 * What the soak reads back at its end: the D1 history (the read model) compared with the run
 * objects, the families of parent and child runs, and the todos table, read straight from the
 * local D1 once the runtime is stopped.
 */
import { execFileSync } from "node:child_process";

/** Every todo title's rows: live (`n`), deleted by an undo (`undone`), and made in all (`made`). */
export interface TodoRow {
  title: string;
  n: number;
  undone: number;
  made: number;
}

export function readTodos(persistTo: string): Map<string, TodoRow> {
  const sql =
    "SELECT title, sum(deleted_at IS NULL) AS n, sum(deleted_at IS NOT NULL AND deleted_by LIKE '%:undo') AS undone, count(*) AS made FROM todos GROUP BY title";
  const out = execFileSync("wrangler", ["d1", "execute", "crane", "--local", "--persist-to", persistTo, "--json", "--command", sql], {
    env: { ...process.env, CI: "true" },
    encoding: "utf8",
  });
  const rows = JSON.parse(out) as { results: TodoRow[] }[];
  return new Map(rows[0]!.results.map((r) => [r.title, r]));
}

/**
 * Lists every run in D1's history, tenant by tenant, and answers the runs whose status there is
 * not the run object's. The projection may trail the object by a retry, so it asks again for a while.
 */
export async function compareHistory(
  baseUrl: string,
  runs: readonly { run_id?: string; auth: Record<string, string> }[],
  statuses: ReadonlyMap<string, string>,
): Promise<string[]> {
  const tenantAuths = [...new Map(runs.map((r) => [JSON.stringify(r.auth), r.auth])).values()];
  let mismatches: string[] = [];
  for (let i = 0; i < 20; i++) {
    const history = new Map<string, string>();
    for (const auth of tenantAuths) {
      let cursor: string | null = null;
      do {
        const res = await fetch(`${baseUrl}/api/v1/runs?limit=100${cursor ? `&cursor=${cursor}` : ""}`, { headers: auth });
        if (!res.ok) throw new Error(`GET /runs: ${res.status}`);
        const page = (await res.json()) as { runs: { run_id: string; status: string }[]; next_cursor: string | null };
        for (const r of page.runs) history.set(r.run_id, r.status);
        cursor = page.next_cursor;
      } while (cursor);
    }
    mismatches = runs
      .map((r) => r.run_id)
      .filter((id): id is string => id !== undefined && history.get(id) !== statuses.get(id))
      .map((id) => `${id}: D1 ${history.get(id)} vs object ${statuses.get(id)}`);
    if (mismatches.length === 0) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  return mismatches;
}

/**
 * Families (parents that start child runs): every child of every parent ended (none left running),
 * each Run.start step made exactly one child, each child names its parent, and the parent heard of
 * each child's end. Answers the counts and the children, for the recovery measure.
 */
export async function checkFamilies(
  baseUrl: string,
  parents: readonly { run_id?: string; auth: Record<string, string> }[],
  childrenPerParent: number,
  terminal: ReadonlySet<string>,
) {
  const get = async <T>(path: string, auth: Record<string, string>): Promise<T> => {
    const res = await fetch(`${baseUrl}/api/v1${path}`, { headers: auth });
    if (!res.ok) throw new Error(`GET ${path}: ${res.status}`);
    return (await res.json()) as T;
  };
  const family = { parents_completed: 0, children: 0, children_ended: 0, steps_with_one_child: 0, children_told_parent: 0 };
  const children: { run_id: string; auth: Record<string, string> }[] = [];
  for (const p of parents) {
    if (!p.run_id) continue;
    const run = await get<{ status: string; children: { run_id: string; step: number; status: string }[] }>(`/runs/${p.run_id}`, p.auth);
    if (run.status === "completed") family.parents_completed++;
    for (let j = 1; j <= childrenPerParent; j++) if (run.children.filter((c) => c.step === j).length === 1) family.steps_with_one_child++;
    for (const c of run.children) {
      family.children++;
      const child = await get<{ status: string; parent_run_id: string | null }>(`/runs/${c.run_id}`, p.auth);
      if (terminal.has(child.status) && child.parent_run_id === p.run_id) family.children_ended++;
      if (terminal.has(c.status)) family.children_told_parent++;
      children.push({ run_id: c.run_id, auth: p.auth });
    }
  }
  return { family, children };
}
