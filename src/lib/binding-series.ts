// A numbered series of bindings set by a count in [vars]: the first is `base`, the others
// `base_i` (DB, DB_1, …; STEPS, STEPS_1, …; WEBHOOK_NOTICES, …; READ_MODEL_ROWS, …). Bindings are
// static, so the count and the bindings must agree; a count that does not match them is refused
// loudly rather than silently using too few. Checked once per env object: the bindings do not
// change while an isolate lives. A key (a tenant, a run id) is given one binding of the series by
// FNV-1a of the key mod the count.
import { fnv1a32 } from "./fnv";

export interface BindingSeries<T, E extends Error> {
  /** The [vars] entry that gives the count, for the messages. */
  countVar: string;
  /** Its value (an absent one as the caller's default). */
  count: (env: Env) => string;
  max: number;
  /** The first binding's name: binding i > 0 is `${base}_${i}`. */
  base: string;
  is: (v: unknown) => v is T;
  /** What one binding is ("D1 binding") and where it is declared ("wrangler.toml [[d1_databases]]"). */
  kind: string;
  declared: string;
  /** What the count should equal, for the message of a binding past it ("bindings"). */
  counted: string;
  error: new (message: string) => E;
}

export interface Series<T, E extends Error> {
  /** The series' bindings in order, or the series' error when the count and the bindings disagree. */
  config(env: Env): T[] | E;
  /** Every binding, in order; throws the series' error when the count and the bindings disagree. */
  all(env: Env): T[];
  /** The binding `key` belongs to: the same one for the key as long as the count stays. */
  pick(env: Env, key: string): T;
}

/** Binding i of a series whose first is `base`: `base`, `base_1`, `base_2`, … */
export const seriesBinding = (base: string, i: number): string => (i === 0 ? base : `${base}_${i}`);

/**
 * Whether `name` is one of a series of queues whose first is `queue` (`queue`, `queue-1`, …; a
 * Cloudflare queue name takes no underscore): the Worker's queue handler dispatches on it.
 */
export function isSeriesQueue(queue: string, name: string): boolean {
  if (name === queue) return true;
  return name.startsWith(`${queue}-`) && /^[1-9]\d*$/.test(name.slice(queue.length + 1));
}

/** Which of `n` bindings a key belongs to. Pure: the same answer forever for the same n. */
export const seriesIndex = (key: string, n: number): number => fnv1a32(key) % n;

export function bindingSeries<T, E extends Error>(s: BindingSeries<T, E>): Series<T, E> {
  const checked = new WeakMap<object, T[] | E>();
  const name = (i: number) => seriesBinding(s.base, i);
  const read = (env: Env): T[] | E => {
    const bindings = env as unknown as Record<string, unknown>;
    const raw = s.count(env).trim();
    const n = Number(raw);
    if (!/^\d+$/.test(raw) || n < 1 || n > s.max) return new s.error(`${s.countVar} must be a whole number from 1 to ${s.max}, not "${raw}".`);
    const found: T[] = [];
    for (let i = 0; i < n; i++) {
      const binding = bindings[name(i)];
      if (!s.is(binding)) return new s.error(`${s.countVar} is ${n} but there is no ${s.kind} ${name(i)} (${s.declared}).`);
      found.push(binding);
    }
    // A binding past N is one the count forgot: what it holds would silently never be used.
    if (s.is(bindings[name(n)])) return new s.error(`${s.countVar} is ${n} but a ${s.kind} ${name(n)} exists: set it to the number of ${s.counted}.`);
    return found;
  };
  const config = (env: Env): T[] | E => {
    const hit = checked.get(env);
    if (hit) return hit;
    const answer = read(env);
    checked.set(env, answer);
    return answer;
  };
  const all = (env: Env): T[] => {
    const answer = config(env);
    if (answer instanceof s.error) throw answer;
    return answer as T[];
  };
  return {
    config,
    all,
    pick: (env, key) => {
      const each = all(env);
      return each[seriesIndex(key, each.length)]!;
    },
  };
}

const isQueue = (v: unknown): v is Queue => typeof v === "object" && v !== null && typeof (v as { send?: unknown }).send === "function";

/** A series of queue producers (wrangler.toml [[queues.producers]]): the step queues, the webhook queues. */
export function queueSeries<T extends Queue, E extends Error>(s: Omit<BindingSeries<T, E>, "is" | "kind" | "declared">): Series<T, E> {
  return bindingSeries({ ...s, is: isQueue as (v: unknown) => v is T, kind: "queue producer", declared: "wrangler.toml [[queues.producers]]" });
}
