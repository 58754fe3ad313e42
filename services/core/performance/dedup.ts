/**
 * The (agencyId, eventId) pairs seen recently, for dedup.
 *
 * A pair is remembered for `retentionMs` after it was received (wall clock, receivedAt); the engine
 * uses allowedLateness + 24h of the module (the longest of all modules, see Engine). Entries are kept
 * in receipt order in one Map and swept from the oldest end, so memory is proportional to the events
 * received within the retention: about 100 bytes plus the id's length per event (a Map entry, the
 * joined key string and its receipt time). At a sustained 10 events/s with 24h30s retention that is
 * ~0.9 M entries, ~100–150 MB.
 */
export class RecentEvents {
  private readonly seen = new Map<string, number>();
  private newestReceipt = Number.NEGATIVE_INFINITY;

  /** Number of remembered pairs. */
  get size(): number {
    return this.seen.size;
  }

  /** Remembers a pair; returns false when it was already remembered (a duplicate). */
  remember(agencyId: string, eventId: string, receivedAt: number): boolean {
    const key = keyOf(agencyId, eventId);
    if (this.seen.has(key)) return false;
    // Receipt times can step back slightly (clock skew across replicas); keep the map ordered anyway.
    const at = Math.max(receivedAt, this.newestReceipt);
    this.newestReceipt = at;
    this.seen.set(key, at);
    return true;
  }

  /** True when the pair is remembered. */
  has(agencyId: string, eventId: string): boolean {
    return this.seen.has(keyOf(agencyId, eventId));
  }

  /** Forgets pairs received before `cutoffMs`. */
  forgetBefore(cutoffMs: number): void {
    for (const [key, at] of this.seen) {
      if (at >= cutoffMs) break;
      this.seen.delete(key);
    }
  }
}

function keyOf(agencyId: string, eventId: string): string {
  // eventIds and agency slugs never contain a space, so the join is unambiguous.
  return `${agencyId} ${eventId}`;
}
