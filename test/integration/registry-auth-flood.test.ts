import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { MemoryBus } from '../../services/adapters/memory/index.js';
import { FailureLimiter } from '../../services/api/auth-limits.js';
import { BusRegistryView } from '../../services/api/registry-view.js';
import { AuthBusyError, SecretVerifier } from '../../services/api/secret-verifier.js';
import { hashSecret, issueSecret, verifySecret } from '../../services/core/auth/secrets.js';
import type { RegistryRecord } from '../../services/core/registry/records.js';
import type { Store } from '../../services/ports/store.js';

// authenticate() never touches the store; the view is fed records directly, as its readers do.
const unusedStore = {} as Store;
const logger = pino({ level: 'silent' });

/** Real scrypt, counted: how many checks ran and the most that ran at once. */
function countingScrypt() {
  const counts = { calls: 0, running: 0, maxRunning: 0 };
  const verify = async (secret: string, hash: string) => {
    counts.calls += 1;
    counts.running += 1;
    counts.maxRunning = Math.max(counts.maxRunning, counts.running);
    try {
      return await verifySecret(secret, hash);
    } finally {
      counts.running -= 1;
    }
  };
  return { counts, verify };
}

function agencyRecord(secretHash: string, version: number, revokedAt?: string): RegistryRecord {
  return {
    type: 'principal',
    entry: {
      kind: 'agency',
      version,
      principal: {
        id: 'transit',
        name: 'Transit',
        createdAt: '2024-01-01T00:00:00.000Z',
        ...(revokedAt ? { revokedAt } : {}),
      },
      secretHash,
    },
  };
}

const bogus = () => `gh_agency_transit_${randomBytes(32).toString('hex')}`;

describe('credential checks under a flood of bogus keys', () => {
  it('bound scrypt work for credentials without a pre-check, answer repeats from memory, and never delay a verified key or file I/O', async () => {
    const { counts, verify } = countingScrypt();
    const registry = new BusRegistryView({
      bus: new MemoryBus(),
      store: unusedStore,
      logger,
      adminToken: undefined,
      verifier: new SecretVerifier({ verify, concurrency: 2, maxWaiting: 8 }),
      // This test is about the scrypt bounds alone; the per-principal failure limit has its own test.
      failuresPerPrincipal: new FailureLimiter({ maxFailures: 1_000_000 }),
    });
    const key = issueSecret('agency', 'transit');
    const hash = await hashSecret(key);
    registry.apply([agencyRecord(hash, 1)]);
    expect(await registry.authenticate(key)).toMatchObject({ kind: 'agency', id: 'transit' });
    expect(counts.calls).toBe(1);

    // 100 copies of one well-formed bogus key and 200 distinct ones, all at once.
    const repeated = bogus();
    const flood = Promise.allSettled(
      [...Array.from({ length: 100 }, () => repeated), ...Array.from({ length: 200 }, bogus)].map((secret) =>
        registry.authenticate(secret),
      ),
    );
    // Meanwhile a request with the verified key, and file I/O on the threadpool (as the bus log's
    // fdatasync): neither may wait behind the flood's scrypt work.
    const started = performance.now();
    expect(await registry.authenticate(key)).toMatchObject({ id: 'transit' });
    await stat(tmpdir());
    const waitedMs = performance.now() - started;

    const outcomes = await flood;
    const refused = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason] : []));
    const answered = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
    expect(answered.every((principal) => principal === undefined)).toBe(true);
    expect(refused.every((err) => err instanceof AuthBusyError && err.code === 'auth_busy')).toBe(true);
    // At most 2 run and 8 wait, the repeated key's 100 copies sharing one check; the rest fail fast.
    expect(counts.maxRunning).toBeLessThanOrEqual(2);
    expect(counts.calls - 1).toBeLessThanOrEqual(2 + 8);
    expect(answered.length).toBeGreaterThanOrEqual(100);
    expect(refused.length).toBe(300 - answered.length);
    expect(waitedMs).toBeLessThan(500);

    // A bogus key seen before costs a lookup, not scrypt.
    const calls = counts.calls;
    for (let i = 0; i < 50; i += 1) expect(await registry.authenticate(repeated)).toBeUndefined();
    expect(counts.calls).toBe(calls);

    // Revocation still drops the verified key at once.
    registry.apply([agencyRecord(hash, 2, new Date().toISOString())]);
    expect(await registry.authenticate(key)).toBeUndefined();
  });

  it('forgets a failure after its time, and never lets it hide a re-issued hash', async () => {
    let now = 0;
    const { counts, verify } = countingScrypt();
    const verifier = new SecretVerifier({ verify, failureTtlMs: 60_000, now: () => now });
    const key = issueSecret('agency', 'transit');
    const hash = await hashSecret(key);
    const wrong = bogus();
    expect(await verifier.verify(wrong, hash)).toBe(false);
    expect(await verifier.verify(wrong, hash)).toBe(false);
    expect(counts.calls).toBe(1);
    now = 60_001;
    expect(await verifier.verify(wrong, hash)).toBe(false);
    expect(counts.calls).toBe(2);
    // The same secret against another hash is checked, not answered from memory.
    expect(await verifier.verify(key, await hashSecret(wrong))).toBe(false);
    expect(await verifier.verify(key, hash)).toBe(true);
    expect(counts.calls).toBe(4);
  });
});
