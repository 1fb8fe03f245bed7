// Callers of POST /runs?wait= waiting in the run object for the run to end, each until a limit.
export class RunEndWaiters {
  private readonly waiting = new Set<() => void>();

  /** Resolves when `wakeAll` is called (the run ended), or after `ms`. */
  async until(ms: number): Promise<void> {
    let wake = () => {};
    const ended = new Promise<void>((resolve) => (wake = resolve));
    this.waiting.add(wake);
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([ended, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      this.waiting.delete(wake);
    }
  }

  wakeAll(): void {
    for (const wake of this.waiting) wake();
  }
}
