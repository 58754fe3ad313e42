import { secretDigest, verifySecret } from '../core/auth/secrets.js';
import { GlasshouseError } from '../runtime/errors.js';

export interface SecretVerifierOptions {
  /**
   * scrypt checks running at once (default 2). Each holds one libuv threadpool thread (4 by default)
   * for ~50 ms and 16 MiB; the same pool runs file I/O such as the standalone bus log's fdatasync,
   * so a flood of bogus keys must never occupy all of it.
   */
  concurrency?: number;
  /** Checks that may wait for a slot (default 16); beyond that a check fails at once with `auth_busy`. */
  maxWaiting?: number;
  /** How long a secret that did not match a stored hash is answered from memory (default 60 s). */
  failureTtlMs?: number;
  /** Remembered failures (default 10,000; the oldest is forgotten first). */
  maxFailures?: number;
  /** The hash check (default: scrypt, `verifySecret`). */
  verify?: (secret: string, hash: string) => Promise<boolean>;
  now?: () => number;
}

/**
 * Too many credential checks are queued already: answered 429 `auth_busy` (retry after a second).
 * Only secrets that are not yet verified can get it; a verified (cached) credential never waits here.
 */
export class AuthBusyError extends GlasshouseError {
  constructor() {
    super('auth_busy', 'too many credential checks in progress; retry in a second', {
      status: 429,
      retriable: true,
    });
  }
}

/**
 * Checks secrets against stored scrypt hashes with bounded cost: at most `concurrency` checks run,
 * at most `maxWaiting` wait, identical checks in flight share one run, and a secret that failed
 * against a hash fails again from memory for `failureTtlMs` — so repeated bogus keys cost a hash
 * lookup, and distinct bogus keys cost at most `concurrency` threadpool threads.
 */
export class SecretVerifier {
  private readonly concurrency: number;
  private readonly maxWaiting: number;
  private readonly failureTtlMs: number;
  private readonly maxFailures: number;
  private readonly check: (secret: string, hash: string) => Promise<boolean>;
  private readonly now: () => number;
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  /** Checks of prechecked secrets waiting for a slot; served before `waiting`. */
  private readonly first: Array<() => void> = [];
  /** Secret digest → the hash it failed against and until when that is remembered; insertion ordered. */
  private readonly failures = new Map<string, { hash: string; until: number }>();
  private readonly inFlight = new Map<string, Promise<boolean>>();

  constructor(options: SecretVerifierOptions = {}) {
    this.concurrency = options.concurrency ?? 2;
    this.maxWaiting = options.maxWaiting ?? 16;
    this.failureTtlMs = options.failureTtlMs ?? 60_000;
    this.maxFailures = options.maxFailures ?? 10_000;
    this.check = options.verify ?? verifySecret;
    this.now = options.now ?? Date.now;
  }

  /**
   * Whether `secret` matches `hash`. Rejects with `AuthBusyError` when too many checks are queued.
   * A `prechecked` secret (its keyed HMAC matched the stored one, so it is almost surely right) waits
   * in a lane of its own that is served first and never refused: bogus secrets cannot delay it by
   * more than the checks already running.
   */
  verify(secret: string, hash: string, digest = secretDigest(secret), prechecked = false): Promise<boolean> {
    const failed = this.failures.get(digest);
    if (failed) {
      if (failed.hash === hash && failed.until > this.now()) return Promise.resolve(false);
      this.failures.delete(digest);
    }
    const key = `${digest}$${hash}`;
    let pending = this.inFlight.get(key);
    if (!pending) {
      pending = this.run(secret, hash, digest, prechecked).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, pending);
    }
    return pending;
  }

  private async run(secret: string, hash: string, digest: string, prechecked: boolean): Promise<boolean> {
    await this.acquire(prechecked);
    let ok: boolean;
    try {
      ok = await this.check(secret, hash);
    } finally {
      this.release();
    }
    if (!ok) {
      if (this.failures.size >= this.maxFailures) this.failures.delete(this.failures.keys().next().value!);
      this.failures.set(digest, { hash, until: this.now() + this.failureTtlMs });
    }
    return ok;
  }

  private acquire(prechecked: boolean): Promise<void> {
    if (this.running < this.concurrency) {
      this.running += 1;
      return Promise.resolve();
    }
    // Only holders of a right secret reach the first lane, so it needs no bound of its own.
    if (prechecked) return new Promise((resolve) => this.first.push(resolve));
    if (this.waiting.length >= this.maxWaiting) return Promise.reject(new AuthBusyError());
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Hands the slot to the next waiter (prechecked secrets first), or frees it. */
  private release(): void {
    const next = this.first.shift() ?? this.waiting.shift();
    if (next) next();
    else this.running -= 1;
  }
}
