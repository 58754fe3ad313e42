import { GlasshouseError } from '../runtime/errors.js';

export interface FailureLimitOptions {
  /** Failed credential checks allowed per key (source address or principal) per window (default 20). */
  maxFailures?: number;
  /** The window, ms (default 60 s). */
  windowMs?: number;
  /** Keys remembered (default 10,000; the oldest window is forgotten first). */
  maxKeys?: number;
  now?: () => number;
}

/**
 * Too many failed credential checks from this source or against this principal: answered 429
 * `auth_throttled` with Retry-After. A secret that passes the pre-check is never refused this way.
 */
export class AuthThrottledError extends GlasshouseError {
  constructor(
    what: 'source' | 'principal',
    readonly retryAfterMs: number,
  ) {
    super(
      'auth_throttled',
      what === 'source'
        ? 'too many failed credential checks from this address; retry later'
        : 'too many failed credential checks for this credential holder; retry later',
      { status: 429, retriable: true, retryAfterMs },
    );
  }
}

/**
 * Counts failed credential checks per key in fixed windows. Memory is bounded by `maxKeys` entries
 * of two numbers each; a key over its limit is refused until its window ends.
 */
export class FailureLimiter {
  private readonly maxFailures: number;
  private readonly windowMs: number;
  private readonly maxKeys: number;
  private readonly now: () => number;
  /** key → failures in the window that started at `since`; insertion ordered (oldest first). */
  private readonly windows = new Map<string, { since: number; failures: number }>();

  constructor(options: FailureLimitOptions = {}) {
    this.maxFailures = options.maxFailures ?? 20;
    this.windowMs = options.windowMs ?? 60_000;
    this.maxKeys = options.maxKeys ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  /** Ms until `key` may fail again, or 0 when it is under its limit. */
  blockedFor(key: string): number {
    const window = this.current(key);
    if (!window || window.failures < this.maxFailures) return 0;
    return window.since + this.windowMs - this.now();
  }

  /** Counts one failed check of `key`. */
  fail(key: string): void {
    const window = this.current(key);
    if (window) {
      window.failures += 1;
      return;
    }
    if (this.windows.size >= this.maxKeys) this.windows.delete(this.windows.keys().next().value!);
    this.windows.set(key, { since: this.now(), failures: 1 });
  }

  private current(key: string): { since: number; failures: number } | undefined {
    const window = this.windows.get(key);
    if (window && window.since + this.windowMs <= this.now()) {
      this.windows.delete(key);
      return undefined;
    }
    return window;
  }
}
