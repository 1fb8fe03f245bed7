// The object's one physical alarm. The host asks every party (the decider, each effect) when it is
// next due and arms the minimum; this remembers what is set, so an unchanged minimum costs no write.
export class AlarmSlot {
  /** The alarm as last set (null: none); undefined forces the next arm to write it. */
  private armedAt: number | null | undefined;

  constructor(private readonly storage: DurableObjectStorage) {}

  /** A new object (most wake only to be created) has no alarm to look for: only commands that wrote events ever set one. */
  none(): void {
    this.armedAt = null;
  }

  /**
   * Reads the alarm on wake. Self-healing: an overdue alarm (one a restarted local runtime no
   * longer fires) is forgotten, so the next arm sets a fresh one.
   */
  async load(now: number): Promise<void> {
    this.armedAt = await this.storage.getAlarm();
    if (this.armedAt !== null && this.armedAt <= now) this.armedAt = undefined;
  }

  /** The alarm fired: it is no longer set. */
  fired(): void {
    this.armedAt = null;
  }

  /** Arms the earliest of `due` (none: no alarm). */
  arm(due: readonly (number | null)[]): void {
    const times = due.filter((t): t is number => t !== null);
    const next = times.length ? Math.min(...times) : null;
    if (next === this.armedAt) return;
    // Not awaited: the write joins the current storage batch and the output gate holds replies until it lands.
    if (next === null) void this.storage.deleteAlarm();
    else void this.storage.setAlarm(next);
    this.armedAt = next;
  }
}
