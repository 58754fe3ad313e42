import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { MemoryBus } from '../../services/adapters/memory/index.js';
import { AuthThrottledError, FailureLimiter } from '../../services/api/auth-limits.js';
import { BusRegistryView } from '../../services/api/registry-view.js';
import { SecretVerifier } from '../../services/api/secret-verifier.js';
import {
  bootstrapAdmin,
  derivePrecheckKey,
  hashSecret,
  issueSecret,
  precheck,
  secretCheck,
  verifySecret,
} from '../../services/core/auth/secrets.js';
import type { RegistryRecord } from '../../services/core/registry/records.js';
import type { Store } from '../../services/ports/store.js';

// authenticate() never touches the store; the view is fed records directly, as its readers do.
const unusedStore = {} as Store;
const logger = pino({ level: 'silent' });

/** Real scrypt, counted, optionally held until released (to keep slots busy on purpose). */
function countingScrypt() {
  const counts = { calls: 0 };
  const verify = async (secret: string, hash: string) => {
    counts.calls += 1;
    return verifySecret(secret, hash);
  };
  return { counts, verify };
}

function principalRecord(id: string, secretHash: string, check?: string): RegistryRecord {
  return {
    type: 'principal',
    entry: {
      kind: 'agency',
      version: 1,
      principal: { id, name: id, createdAt: '2024-01-01T00:00:00.000Z' },
      secretHash,
      ...(check === undefined ? {} : { secretCheck: check }),
    },
  };
}

const bogus = (id: string) => `gh_agency_${id}_${randomBytes(32).toString('hex')}`;

describe('the keyed pre-check before scrypt', () => {
  const key = derivePrecheckKey(randomBytes(32));

  it('tells a right secret from a wrong one, and a check made under another key from both', () => {
    const secret = issueSecret('agency', 'transit');
    const check = secretCheck(key, secret);
    expect(precheck(key, secret, check)).toBe('match');
    expect(precheck(key, bogus('transit'), check)).toBe('mismatch');
    expect(precheck(derivePrecheckKey(randomBytes(32)), secret, check)).toBe('unknown');
    expect(precheck(key, secret, undefined)).toBe('unknown');
    expect(precheck(key, secret, 'hmac-sha256$nonsense')).toBe('unknown');
  });

  it('refuses a flood of wrong secrets without scrypt and verifies a right, uncached one at once', async () => {
    const { counts, verify } = countingScrypt();
    const registry = new BusRegistryView({
      bus: new MemoryBus(),
      store: unusedStore,
      logger,
      adminToken: undefined,
      precheckKey: key,
      verifier: new SecretVerifier({ verify, concurrency: 2, maxWaiting: 2 }),
      failuresPerSource: new FailureLimiter({ maxFailures: 1_000_000 }),
      failuresPerPrincipal: new FailureLimiter({ maxFailures: 1_000_000 }),
    });
    const secret = issueSecret('agency', 'transit');
    registry.apply([principalRecord('transit', await hashSecret(secret), registry.secretCheck(secret))]);
    const flood = Promise.allSettled(
      Array.from({ length: 300 }, () => registry.authenticate(bogus('transit'))),
    );
    expect(await registry.authenticate(secret)).toMatchObject({ kind: 'agency', id: 'transit' });
    const outcomes = await flood;
    expect(outcomes.every((o) => o.status === 'fulfilled' && o.value === undefined)).toBe(true);
    // Only the right secret reached scrypt.
    expect(counts.calls).toBe(1);
  });

  it('serves a pre-checked secret before secrets without a check that fill every scrypt slot', async () => {
    // Scrypt held until released: the order in which checks get a slot is visible.
    const started: Array<{ secret: string; release: () => void }> = [];
    const slow = async (secret: string, hash: string) => {
      await new Promise<void>((release) => started.push({ secret, release }));
      return verifySecret(secret, hash);
    };
    const registry = new BusRegistryView({
      bus: new MemoryBus(),
      store: unusedStore,
      logger,
      adminToken: undefined,
      precheckKey: key,
      verifier: new SecretVerifier({ verify: slow, concurrency: 2, maxWaiting: 2 }),
      failuresPerPrincipal: new FailureLimiter({ maxFailures: 1_000_000 }),
    });
    const legacy = issueSecret('agency', 'legacy');
    const secret = issueSecret('agency', 'transit');
    registry.apply([
      principalRecord('legacy', await hashSecret(legacy)),
      principalRecord('transit', await hashSecret(secret), registry.secretCheck(secret)),
    ]);
    const tick = () => new Promise((resolve) => setImmediate(resolve));
    // Two running, two waiting, the fifth refused: every slot and place is taken.
    const flood = Array.from({ length: 4 }, () => registry.authenticate(bogus('legacy'), '192.0.2.1'));
    await expect(registry.authenticate(bogus('legacy'), '192.0.2.1')).rejects.toMatchObject({
      code: 'auth_busy',
    });
    while (started.length < 2) await tick();
    const right = registry.authenticate(secret, '192.0.2.1');
    // The first freed slot goes to the pre-checked secret, ahead of the two that waited before it.
    started[0]!.release();
    while (started.length < 3) await tick();
    expect(started[2]!.secret).toBe(secret);
    started[2]!.release();
    expect(await right).toMatchObject({ id: 'transit' });
    // Then the rest: the four legacy checks run and fail.
    let finished = false;
    const outcomes = Promise.all(flood).finally(() => {
      finished = true;
    });
    while (!finished) {
      for (const check of started) check.release();
      await tick();
    }
    for (const outcome of await outcomes) expect(outcome).toBeUndefined();
  });

  it('limits failed checks per source and per principal, but never refuses a secret that passes the pre-check', async () => {
    let now = 0;
    const { counts, verify } = countingScrypt();
    const registry = new BusRegistryView({
      bus: new MemoryBus(),
      store: unusedStore,
      logger,
      adminToken: undefined,
      precheckKey: key,
      verifier: new SecretVerifier({ verify }),
      failuresPerSource: new FailureLimiter({ maxFailures: 5, windowMs: 60_000, now: () => now }),
      failuresPerPrincipal: new FailureLimiter({ maxFailures: 8, windowMs: 60_000, now: () => now }),
    });
    const secret = issueSecret('agency', 'transit');
    const legacy = issueSecret('agency', 'legacy');
    registry.apply([
      principalRecord('transit', await hashSecret(secret), registry.secretCheck(secret)),
      principalRecord('legacy', await hashSecret(legacy)),
    ]);
    for (let i = 0; i < 5; i += 1)
      expect(await registry.authenticate(bogus('transit'), '192.0.2.1')).toBeUndefined();
    const throttled = registry.authenticate(bogus('transit'), '192.0.2.1');
    await expect(throttled).rejects.toBeInstanceOf(AuthThrottledError);
    await expect(throttled).rejects.toMatchObject({ code: 'auth_throttled', status: 429 });
    // Garbage and unknown holders count for the source too.
    await expect(registry.authenticate('not-a-key', '192.0.2.1')).rejects.toMatchObject({
      code: 'auth_throttled',
    });
    // The right secret from the same address still gets in (it was never cached).
    expect(await registry.authenticate(secret, '192.0.2.1')).toMatchObject({ id: 'transit' });

    // Per principal, across addresses: a credential without a check stops costing scrypt after 8 failures.
    for (let i = 0; i < 8; i += 1)
      expect(await registry.authenticate(bogus('legacy'), `198.51.100.${i}`)).toBeUndefined();
    const calls = counts.calls;
    await expect(registry.authenticate(bogus('legacy'), '198.51.100.200')).rejects.toMatchObject({
      code: 'auth_throttled',
      options: { retryAfterMs: 60_000 },
    });
    expect(counts.calls).toBe(calls);
    now = 60_000;
    expect(await registry.authenticate(legacy, '198.51.100.200')).toMatchObject({ id: 'legacy' });
    expect(await registry.authenticate(bogus('transit'), '192.0.2.1')).toBeUndefined();
  });

  it('keeps the stored-hash admin token’s pre-check after its first success', async () => {
    const token = issueSecret('admin', bootstrapAdmin.id);
    const saved: string[] = [];
    const options = {
      bus: new MemoryBus(),
      store: unusedStore,
      logger,
      adminToken: undefined,
      adminTokenHash: await hashSecret(token),
      precheckKey: key,
      saveAdminTokenCheck: async (check: string) => {
        saved.push(check);
      },
    };
    const first = new BusRegistryView(options);
    expect(await first.authenticate(bogus('x').replace('agency_x', 'admin_bootstrap'))).toBeUndefined();
    expect(saved).toEqual([]);
    expect(await first.authenticate(token)).toEqual(bootstrapAdmin);
    expect(saved).toHaveLength(1);
    expect(precheck(key, token, saved[0])).toBe('match');
    // After a restart with the kept check: wrong tokens never reach scrypt.
    const { counts, verify } = countingScrypt();
    const restarted = new BusRegistryView({
      ...options,
      adminTokenCheck: saved[0],
      verifier: new SecretVerifier({ verify }),
    });
    for (let i = 0; i < 10; i += 1)
      expect(
        await restarted.authenticate(`gh_admin_bootstrap_${randomBytes(32).toString('hex')}`),
      ).toBeUndefined();
    expect(counts.calls).toBe(0);
    expect(await restarted.authenticate(token)).toEqual(bootstrapAdmin);
    expect(counts.calls).toBe(1);
    expect(saved).toHaveLength(1);
  });
});

describe('credentials issued before pre-checks existed', () => {
  it('submit their pre-check once, after their first successful scrypt check', async () => {
    const key = derivePrecheckKey(randomBytes(32));
    const kept: Array<[string, string, number, string]> = [];
    const registry = new BusRegistryView({
      bus: new MemoryBus(),
      store: unusedStore,
      logger,
      adminToken: undefined,
      precheckKey: key,
      keepSecretCheck: async (kind, id, version, check) => {
        kept.push([kind, id, version, check]);
      },
    });
    const secret = issueSecret('agency', 'legacy');
    registry.apply([principalRecord('legacy', await hashSecret(secret))]);
    expect(await registry.authenticate(bogus('legacy'))).toBeUndefined();
    expect(kept).toEqual([]);
    expect(await registry.authenticate(secret)).toMatchObject({ id: 'legacy' });
    expect(await registry.authenticate(secret)).toMatchObject({ id: 'legacy' });
    expect(kept).toEqual([['agency', 'legacy', 1, secretCheck(key, secret)]]);
    // Once kept (the next version carries it), wrong secrets no longer reach scrypt.
    const { counts, verify } = countingScrypt();
    const next = new BusRegistryView({
      bus: new MemoryBus(),
      store: unusedStore,
      logger,
      adminToken: undefined,
      precheckKey: key,
      verifier: new SecretVerifier({ verify }),
    });
    next.apply([principalRecord('legacy', await hashSecret(secret), kept[0]![3])]);
    for (let i = 0; i < 5; i += 1) expect(await next.authenticate(bogus('legacy'))).toBeUndefined();
    expect(counts.calls).toBe(0);
  });
});
