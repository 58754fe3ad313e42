/** Capped exponential backoff with "equal jitter": a delay in [ceiling/2, ceiling]. */
export interface Backoff {
  baseMs: number;
  capMs: number;
}

/** Store and bus retries: 200 ms doubling to 10 s. */
export const sinkBackoff: Backoff = { baseMs: 200, capMs: 10_000 };

/** The delay before retry number `attempt` (1-based). `random` is injectable for tests. */
export function backoffDelay(attempt: number, policy: Backoff, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** Math.min(Math.max(attempt, 1) - 1, 30));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** Thrown by `pause` when its signal aborts: the component waiting is stopping. */
export class Stopped extends Error {}

/** Waits `ms`, or throws `Stopped` as soon as `signal` aborts (at once when it already has). */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new Stopped('stopping'));
    const onAbort = () => {
      clearTimeout(timer);
      reject(new Stopped('stopping'));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
