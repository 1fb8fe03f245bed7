// A numbered series of bindings set by a count in [vars]: the first is `base`, the others
// `base_i` (DB, DB_1, …; STEPS, STEPS_1, …). Bindings are static, so the count and the bindings
// must agree; a count that does not match them is refused loudly rather than silently using too
// few. Checked once per env object: the bindings do not change while an isolate lives.

export interface BindingSeries<T, E extends Error> {
  /** The [vars] entry that gives the count, for the messages. */
  countVar: string;
  /** Its value (an absent one as the caller's default). */
  count: (env: Env) => string;
  max: number;
  name: (i: number) => string;
  is: (v: unknown) => v is T;
  /** What one binding is ("D1 binding") and where it is declared ("wrangler.toml [[d1_databases]]"). */
  kind: string;
  declared: string;
  /** What the count should equal, for the message of a binding past it ("bindings"). */
  counted: string;
  error: new (message: string) => E;
}

/** The series' bindings in order, or the series' error when the count and the bindings disagree. */
export function bindingSeries<T, E extends Error>(s: BindingSeries<T, E>): (env: Env) => T[] | E {
  const checked = new WeakMap<object, T[] | E>();
  const read = (env: Env): T[] | E => {
    const bindings = env as unknown as Record<string, unknown>;
    const raw = s.count(env).trim();
    const n = Number(raw);
    if (!/^\d+$/.test(raw) || n < 1 || n > s.max) return new s.error(`${s.countVar} must be a whole number from 1 to ${s.max}, not "${raw}".`);
    const found: T[] = [];
    for (let i = 0; i < n; i++) {
      const binding = bindings[s.name(i)];
      if (!s.is(binding)) return new s.error(`${s.countVar} is ${n} but there is no ${s.kind} ${s.name(i)} (${s.declared}).`);
      found.push(binding);
    }
    // A binding past N is one the count forgot: what it holds would silently never be used.
    if (s.is(bindings[s.name(n)])) return new s.error(`${s.countVar} is ${n} but a ${s.kind} ${s.name(n)} exists: set it to the number of ${s.counted}.`);
    return found;
  };
  return (env) => {
    const hit = checked.get(env);
    if (hit) return hit;
    const answer = read(env);
    checked.set(env, answer);
    return answer;
  };
}
