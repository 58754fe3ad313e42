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
