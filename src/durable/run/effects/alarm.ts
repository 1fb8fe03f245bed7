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

  /**
   * Arms the earliest of `due` (none: no alarm). `soonerKeptAfter`: an alarm already set after
   * this time and sooner than the earliest is left as it is (the caller knows that whatever is due
   * first will re-arm when it is done, so that alarm only stands guard until then).
   */
  arm(due: readonly (number | null)[], soonerKeptAfter?: number): void {
    let next: number | null = null;
    for (const t of due) if (t !== null && (next === null || t < next)) next = t;
    if (next === this.armedAt) return;
    if (soonerKeptAfter !== undefined && next !== null && typeof this.armedAt === "number" && this.armedAt > soonerKeptAfter && this.armedAt < next) return;
    // Not awaited: the write joins the current storage batch and the output gate holds replies until it lands.
    if (next === null) void this.storage.deleteAlarm();
    else void this.storage.setAlarm(next);
    this.armedAt = next;
  }
}
