/**
 * Per-agency token buckets counted in events: `ratePerSecond` refill, `burst` capacity.
 * A request takes one token per event. It is admitted when the bucket holds at least
 * min(events, burst) tokens, so a batch larger than the burst still passes once the bucket is full,
 * and the bucket may go into debt that later requests wait out: the long-run rate holds either way.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
  ) {}

  /** Takes `events` tokens, or answers how long (ms) until the request would be admitted. */
  take(agencyId: string, events: number, now: number): { ok: true } | { ok: false; retryAfterMs: number } {
    const bucket = this.refill(agencyId, now);
    const needed = Math.min(events, this.burst);
    if (bucket.tokens < needed) {
      return { ok: false, retryAfterMs: Math.ceil(((needed - bucket.tokens) / this.ratePerSecond) * 1000) };
    }
    bucket.tokens -= events;
    return { ok: true };
  }

  /** Whether the agency has any tokens at all: a cheap check before reading a body. */
  hasTokens(agencyId: string, now: number): { ok: true } | { ok: false; retryAfterMs: number } {
    const bucket = this.refill(agencyId, now);
    if (bucket.tokens >= 1) return { ok: true };
    return { ok: false, retryAfterMs: Math.ceil(((1 - bucket.tokens) / this.ratePerSecond) * 1000) };
  }

  private refill(agencyId: string, now: number): { tokens: number; at: number } {
    let bucket = this.buckets.get(agencyId);
    if (!bucket) {
      bucket = { tokens: this.burst, at: now };
      this.buckets.set(agencyId, bucket);
      return bucket;
    }
    if (now > bucket.at) {
      bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.ratePerSecond);
      bucket.at = now;
    }
    return bucket;
  }
}
