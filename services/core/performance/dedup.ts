/**
 * The (agencyId, eventId) pairs of one module that the engine must recognise from memory.
 *
 * Dedup has two authorities (DESIGN "Delivery"): this memory for events observed at or after the
 * module's dedup horizon (its watermark, see Engine), and the store for events observed before it,
 * which the processor looks up in batches before the engine takes them. So a pair is kept while its
 * event is inside the horizon, and also until the batch that counted it is durable (written with its
 * raw row), because only then can the store's lookup find it. Memory is therefore bounded by the
 * events observed within one lateness bound (plus the future skew ingest allows) and the events not
 * yet written: about 100 bytes plus the id's length per pair.
 *
 * Pairs are indexed by observation time in slots of `slotMs`, so forgetting walks only the slots that
 * fell behind the horizon, never the whole memory.
 */
export class SeenEventIds {
  /** Pair → the processing time of the batch that counted it (0 for pairs restored from the store). */
  private readonly seen = new Map<string, number>();
  /** Slot start → the pairs observed in that slot. */
  private readonly slots = new Map<number, string[]>();

  constructor(private readonly slotMs: number) {}

  /** Number of remembered pairs. */
  get size(): number {
    return this.seen.size;
  }

  /** True when the pair is remembered. */
  has(agencyId: string, eventId: string): boolean {
    return this.seen.has(keyOf(agencyId, eventId));
  }

  /**
   * Remembers a pair counted by the batch processed at `countedAt` (0: already durable); returns
   * false when it was remembered already (a duplicate).
   */
  remember(agencyId: string, eventId: string, observedAt: number, countedAt: number): boolean {
    const key = keyOf(agencyId, eventId);
    if (this.seen.has(key)) return false;
    this.seen.set(key, countedAt);
    const slot = Math.floor(observedAt / this.slotMs) * this.slotMs;
    const list = this.slots.get(slot);
    if (list) list.push(key);
    else this.slots.set(slot, [key]);
    return true;
  }

  /**
   * Forgets the pairs observed before `horizonMs` whose batch is durable (counted at or before
   * `durableMs`); pairs of a batch still being written stay until a later call.
   */
  forget(horizonMs: number, durableMs: number): void {
    for (const [slot, keys] of this.slots) {
      if (slot + this.slotMs > horizonMs) continue;
      const pending: string[] = [];
      for (const key of keys) {
        const countedAt = this.seen.get(key);
        if (countedAt === undefined) continue;
        if (countedAt <= durableMs) this.seen.delete(key);
        else pending.push(key);
      }
      if (pending.length === 0) this.slots.delete(slot);
      else this.slots.set(slot, pending);
    }
  }
}

function keyOf(agencyId: string, eventId: string): string {
  // eventIds and agency slugs never contain a space, so the join is unambiguous.
  return `${agencyId} ${eventId}`;
}
