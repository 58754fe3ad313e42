import * as crypto from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';

// Pass-through spy, so the test can see which comparison secretsEqual makes.
vi.mock('node:crypto', async (original) => {
  const actual = await original<typeof import('node:crypto')>();
  return { ...actual, timingSafeEqual: vi.fn(actual.timingSafeEqual) };
});

import {
  hashSecret,
  issueSecret,
  parseSecret,
  secretsEqual,
  verifySecret,
} from '../../services/core/auth/secrets.js';

describe('credentials', () => {
  it('issues secrets that name their holder and parse back, ids with underscores included', () => {
    const secret = issueSecret('agency', 'city_transit-2');
    expect(secret).toMatch(/^gh_agency_city_transit-2_[0-9a-f]{64}$/);
    expect(parseSecret(secret)).toEqual({ kind: 'agency', id: 'city_transit-2' });
    expect(issueSecret('agency', 'x')).not.toBe(issueSecret('agency', 'x'));
    for (const bad of [
      '',
      'gh_agency_x',
      'gh_root_x_' + 'a'.repeat(64),
      'gh_agency_X_' + 'a'.repeat(64),
      `gh_agency_x_${'g'.repeat(64)}`,
    ]) {
      expect(parseSecret(bad), bad).toBeUndefined();
    }
  });

  it('stores a salted scrypt hash that verifies only the right secret', async () => {
    const secret = issueSecret('overseer', 'desk');
    const [first, second] = await Promise.all([hashSecret(secret), hashSecret(secret)]);
    expect(first).toMatch(/^scrypt\$16384\$8\$1\$[\w-]{22}\$[\w-]{43}$/);
    expect(first).not.toBe(second);
    expect(first).not.toContain(secret.slice(-64));
    expect(await verifySecret(secret, first)).toBe(true);
    expect(await verifySecret(secret, second)).toBe(true);
    const wrong = `${secret.slice(0, -1)}${secret.endsWith('a') ? 'b' : 'a'}`;
    expect(await verifySecret(wrong, first)).toBe(false);
    expect(await verifySecret(secret, 'scrypt$16384$8$1$short$short')).toBe(false);
    expect(await verifySecret(secret, 'plain')).toBe(false);
  });

  it('compares bootstrap tokens of any length with timingSafeEqual over equal-length digests', () => {
    const spy = vi.mocked(crypto.timingSafeEqual);
    spy.mockClear();
    expect(secretsEqual('a-long-admin-token', 'a-long-admin-token')).toBe(true);
    expect(secretsEqual('a-long-admin-token', 'a-long-admin-tokenx')).toBe(false);
    expect(secretsEqual('short', 'x'.repeat(500))).toBe(false);
    // Every comparison went through timingSafeEqual, always on two SHA-256 digests (32 bytes each),
    // so neither the position of the first difference nor the lengths change the work done.
    expect(spy).toHaveBeenCalledTimes(3);
    for (const [a, b] of spy.mock.calls) {
      expect([(a as Buffer).length, (b as Buffer).length]).toEqual([32, 32]);
    }
  });
});
