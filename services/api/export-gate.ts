import { GlasshouseError } from '../runtime/errors.js';

export interface ExportGateOptions {
  /** Exports streamed at once by this process (default 4): each holds up to 50,000 rows in memory. */
  concurrency: number;
  /** Exports one source address may start per minute (default 30; a burst of that many, then a steady rate). */
  perMinute: number;
  /** Source addresses remembered (default 10,000; the least recently seen is forgotten first). */
  maxSources?: number;
  now?: () => number;
}

/**
 * Bounds the public events export: at most `concurrency` run at once (a read of up to 50,000 rows
 * costs tens of MB until it is streamed out) and each source address starts at most `perMinute`
 * a minute. Refusals are 429 with Retry-After; a refused request costs no query.
 */
export class ExportGate {
  private running = 0;
  /** Source → tokens left and when they were last refilled; insertion ordered (oldest first). */
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly now: () => number;

  constructor(private readonly options: ExportGateOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Admits one export from `source`, or throws 429. Call the returned function once it is done. */
  admit(source: string): () => void {
    const { concurrency, perMinute } = this.options;
    if (this.running >= concurrency) {
      throw new GlasshouseError('export_busy', `${concurrency} exports are running; retry in a second`, {
        status: 429,
        retriable: true,
        retryAfterMs: 1_000,
      });
    }
    const now = this.now();
    const ratePerMs = perMinute / 60_000;
    const bucket = this.buckets.get(source) ?? { tokens: perMinute, at: now };
    this.buckets.delete(source);
    bucket.tokens = Math.min(perMinute, bucket.tokens + (now - bucket.at) * ratePerMs);
    bucket.at = now;
    if (this.buckets.size >= (this.options.maxSources ?? 10_000))
      this.buckets.delete(this.buckets.keys().next().value!);
    this.buckets.set(source, bucket);
    if (bucket.tokens < 1) {
      throw new GlasshouseError('rate_limited', `at most ${perMinute} exports a minute from one address`, {
        status: 429,
        retriable: true,
        retryAfterMs: (1 - bucket.tokens) / ratePerMs,
      });
    }
    bucket.tokens -= 1;
    this.running += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.running -= 1;
    };
  }
}
