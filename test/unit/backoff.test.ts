import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../../services/runtime/backoff.js';

describe('backoffDelay (the one backoff: capped exponential with equal jitter)', () => {
  const policy = { baseMs: 1_000, capMs: 30_000 };

  it('doubles from the base up to the cap, at the top of its jitter range', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => backoffDelay(n, policy, () => 1))).toEqual([
      1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000,
    ]);
  });

  it('waits between half the ceiling and the ceiling', () => {
    expect(backoffDelay(3, policy, () => 0)).toBe(2_000);
    expect(backoffDelay(3, policy, () => 0.5)).toBe(3_000);
    expect(backoffDelay(3, policy, () => 0.999_999)).toBe(4_000);
  });

  it('treats attempts below 1 as the first and does not overflow for very many', () => {
    expect(backoffDelay(0, policy, () => 1)).toBe(1_000);
    expect(backoffDelay(10_000, policy, () => 1)).toBe(30_000);
  });
});
