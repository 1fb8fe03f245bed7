// The model's text streams into the run's log as `llm.delta` events. An event per token would make
// the log as long as the answer is in tokens, so deltas are gathered and handed on at most once per
// 100 ms, or sooner once 2 KiB (UTF-8 bytes, what the log stores) are waiting. The clock is
// injected so tests do not wait on it.

export const DELTA_INTERVAL_MS = 100;
export const DELTA_MAX_BYTES = 2048;

const encoder = new TextEncoder();

export interface DeltaCoalescer {
  push(text: string): void;
  /** Hands on whatever waits (at the end of the stream, or before an error is reported). */
  flush(): void;
}

/**
 * `quietStart`: the first delta waits its interval too, so a model that answers within it streams
 * nothing at all (its text comes with the answer): a fast call costs the run no request for deltas.
 */
export function deltaCoalescer(
  emit: (text: string) => void,
  opts: { now?: () => number; intervalMs?: number; maxBytes?: number; quietStart?: boolean } = {},
): DeltaCoalescer {
  const now = opts.now ?? Date.now;
  const interval = opts.intervalMs ?? DELTA_INTERVAL_MS;
  const maxBytes = opts.maxBytes ?? DELTA_MAX_BYTES;
  let pending = "";
  let pendingBytes = 0;
  // The first delta goes out at once (a watcher sees the model start), later ones at the interval.
  let lastEmit = opts.quietStart ? now() : -Infinity;
  const flush = () => {
    if (!pending) return;
    const text = pending;
    pending = "";
    pendingBytes = 0;
    lastEmit = now();
    emit(text);
  };
  return {
    push(text) {
      if (!text) return;
      pending += text;
      pendingBytes += encoder.encode(text).byteLength;
      if (pendingBytes >= maxBytes || now() - lastEmit >= interval) flush();
    },
    flush,
  };
}
