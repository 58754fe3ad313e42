/**
 * The eventIds each agency sent recently, so a retried request counts its events as duplicates
 * instead of publishing them again. Bounded both ways: entries expire after `ttlMs`, and beyond
 * `maxEntries` the oldest go first. It is only a convenience for honest `duplicates` counts; the
 * processor and the store remain the authority on dedup, so forgetting early is safe.
 *
 * Defaults: 200,000 entries × (key ≈ 80 bytes + Map slot ≈ 40 bytes) ≈ 25 MiB at most, 15 minutes
 * (far longer than any client's retry loop).
 */
export class RecentEventIds {
  // Insertion order is expiry order (every entry lives the same ttl), so the head is always the oldest.
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly maxEntries = 200_000,
    private readonly ttlMs = 15 * 60_000,
  ) {}

  /** True when this agency's eventId was remembered and has not expired. */
  has(agencyId: string, eventId: string, now: number): boolean {
    const expires = this.seen.get(keyOf(agencyId, eventId));
    return expires !== undefined && expires > now;
  }

  /** Remembers eventIds the bus has confirmed. Call only after the publish resolved. */
  remember(agencyId: string, eventIds: readonly string[], now: number): void {
    const expires = now + this.ttlMs;
    for (const eventId of eventIds) {
      const key = keyOf(agencyId, eventId);
      this.seen.delete(key);
      this.seen.set(key, expires);
    }
    this.evict(now);
  }

  get size(): number {
    return this.seen.size;
  }

  private evict(now: number): void {
    for (const [key, expires] of this.seen) {
      if (this.seen.size <= this.maxEntries && expires > now) break;
      this.seen.delete(key);
    }
  }
}

// NUL cannot occur in an agency id (a slug), so the pair is unambiguous.
const keyOf = (agencyId: string, eventId: string) => `${agencyId}\u0000${eventId}`;
