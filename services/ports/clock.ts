/** Wall-clock time in epoch ms, injected so the domain can be tested with a fake clock. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
