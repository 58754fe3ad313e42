import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@clickhouse/client';
import { describe, expect, inject, it } from 'vitest';
import { ClickHouseStore } from '../../services/adapters/clickhouse/index.js';
import { DuckDbStore } from '../../services/adapters/duckdb/index.js';
import { KafkaBus } from '../../services/adapters/kafka/index.js';
import { MemoryBus } from '../../services/adapters/memory/index.js';
import {
  parseSignedCheckpoint,
  type SignedCheckpoint,
  verifyLogSignature,
} from '../../services/core/audit/checkpoint.js';
import { verifyConsistency, verifyInclusion } from '../../services/core/audit/merkle.js';
import { ed25519Signer, parseVerifierKey } from '../../services/core/audit/note.js';
import type { Bus } from '../../services/ports/bus.js';
import type { Store } from '../../services/ports/store.js';
import { type RunningApi, startApi } from '../support/api-harness.js';
import {
  replaceClickHouseAuditRows,
  replaceDuckDbAuditRows,
  rewriteHistory,
} from '../support/audit-rewrite.js';
import { testLogger as logger } from '../support/store-setups.js';

const adminToken = 'admin-token-for-checkpoints-0123456789';
const origin = 'test.example/audit';

interface Setup {
  bus(): Promise<Bus>;
  store(): Store;
  /** Stops `api`, writes `rows` in place of the stored entries from rows[0].seq on, and starts a new api replica. */
  rewrite(
    api: RunningApi,
    rows: Parameters<typeof replaceDuckDbAuditRows>[1],
    logKey: KeyObject,
  ): Promise<RunningApi>;
  cleanup(): Promise<void>;
}

/** The RFC 6962 root written out independently of the code under test. */
function independentRoot(entryHashes: string[]): Buffer {
  const sha = (...parts: Buffer[]) => createHash('sha256').update(Buffer.concat(parts)).digest();
  const mth = (leaves: Buffer[]): Buffer => {
    if (leaves.length === 1) return leaves[0]!;
    let k = 1;
    while (k * 2 < leaves.length) k *= 2;
    return sha(Buffer.of(1), mth(leaves.slice(0, k)), mth(leaves.slice(k)));
  };
  if (!entryHashes.length) return sha();
  return mth(entryHashes.map((h) => sha(Buffer.of(0), Buffer.from(h, 'hex'))));
}

async function checkpointOf(url: string): Promise<SignedCheckpoint | undefined> {
  const response = await fetch(`${url}/v1/audit/checkpoint`);
  if (response.status === 404) return;
  expect(response.headers.get('content-type')).toBe('text/plain; charset=utf-8');
  return parseSignedCheckpoint(await response.text());
}

async function getJson(url: string) {
  const response = await fetch(url);
  return {
    status: response.status,
    body: (await response.json()) as { proof?: string[]; error?: { code: string } },
  };
}

const fromB64 = (proof: string[]) => proof.map((p) => Buffer.from(p, 'base64'));

function checkpointSuite(name: string, makeSetup: () => Promise<Setup>): void {
  describe(`audit checkpoints (${name})`, () => {
    it('signs a checkpoint within 1 s of each entry, serves proofs that verify, and never signs a rewritten history', async () => {
      const setup = await makeSetup();
      const logKey = generateKeyPairSync('ed25519').privateKey;
      const env = { GLASSHOUSE_LOG_ORIGIN: origin };
      let api = await startApi({ bus: await setup.bus(), store: setup.store(), adminToken, logKey, env });
      try {
        const key = parseVerifierKey((await (await fetch(`${api.url}/v1/audit/key`)).text()).trim());
        expect(key.text).toBe(ed25519Signer(origin, logKey).key.text);
        await expect.poll(async () => (await checkpointOf(api.url))?.size, { timeout: 10_000 }).toBe(0);

        const saved: SignedCheckpoint[] = [];
        for (let i = 1; i <= 5; i++) {
          const put = await api.call('PUT', `/v1/sociotechnicians/person-${i}`, {
            token: adminToken,
            body: { name: `Person ${i}` },
          });
          expect(put.status).toBe(200);
          await expect
            .poll(async () => (await checkpointOf(api.url))?.size, { timeout: 1_000, interval: 20 })
            .toBe(i);
          saved.push((await checkpointOf(api.url))!);
        }
        const latest = saved.at(-1)!;
        expect(latest.origin).toBe(origin);
        expect(verifyLogSignature(latest, key)).toBe(true);
        const entries = (await api.call('GET', '/v1/audit')).body.items as Array<{
          seq: number;
          hash: string;
        }>;
        expect(entries.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
        expect(latest.root.equals(independentRoot(entries.map((e) => e.hash)))).toBe(true);

        for (const entry of entries) {
          const { status, body } = await getJson(
            `${api.url}/v1/audit/proof/inclusion?seq=${entry.seq}&size=5`,
          );
          expect(status).toBe(200);
          const leaf = createHash('sha256')
            .update(Buffer.concat([Buffer.of(0), Buffer.from(entry.hash, 'hex')]))
            .digest();
          expect(verifyInclusion(entry.seq - 1, 5, leaf, fromB64(body.proof!), latest.root)).toBe(true);
        }
        for (const old of saved) {
          const { status, body } = await getJson(
            `${api.url}/v1/audit/proof/consistency?from=${old.size}&to=5`,
          );
          expect(status).toBe(200);
          expect(verifyConsistency(old.size, 5, fromB64(body.proof!), old.root, latest.root)).toBe(true);
        }
        for (const [path, status, code] of [
          ['inclusion?seq=0&size=5', 400, 'invalid_request'],
          ['inclusion?seq=6&size=5', 400, 'invalid_request'],
          ['inclusion?seq=1&size=99', 404, 'beyond_log'],
          ['inclusion?seq=x&size=5', 400, 'invalid_request'],
          ['inclusion?seq=1', 400, 'invalid_request'],
          ['consistency?from=4&to=2', 400, 'invalid_request'],
          ['consistency?from=1&to=99', 404, 'beyond_log'],
          ['consistency?from=1&to=2&extra=1', 400, 'invalid_request'],
        ] as const) {
          const answer = await getJson(`${api.url}/v1/audit/proof/${path}`);
          expect([path, answer.status, answer.body.error?.code]).toEqual([path, status, code]);
        }

        // The operator rewrites entry 2 and recomputes the chain while the service is stopped.
        const rows = await setup.store().select('audit_log', { orderBy: [{ column: 'seq' }] });
        const rewritten = rewriteHistory(rows, 2, (entry) => ({ ...entry, after: { name: 'Someone else' } }));
        api = await setup.rewrite(api, rewritten, logKey);
        expect((await api.call('GET', '/v1/audit/verify')).body).toMatchObject({ valid: true, length: 5 });
        const put = await api.call('PUT', '/v1/sociotechnicians/person-6', {
          token: adminToken,
          body: { name: 'Person 6' },
        });
        expect(put.status).toBe(200);
        await expect
          .poll(async () => (await api.call('GET', '/readyz')).body.parts, { timeout: 10_000 })
          .toContainEqual({ name: 'audit-checkpoints', state: 'degraded' });
        const served = (await checkpointOf(api.url))!;
        expect(served.size).toBe(5);
        expect(served.root.equals(latest.root)).toBe(true);
        // The served entries no longer hash to the checkpoint's root.
        const now = (await api.call('GET', '/v1/audit')).body.items as Array<{ hash: string }>;
        expect(independentRoot(now.slice(0, 5).map((e) => e.hash)).equals(latest.root)).toBe(false);
      } finally {
        await api.stop();
        await setup.cleanup();
      }
    });
  });
}

checkpointSuite('in-process bus + DuckDB', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'glasshouse-checkpoints-'));
  const path = join(dir, 'store.duckdb');
  let bus = new MemoryBus({ topicPrefix: 'checkpoints' });
  await bus.start();
  let store = new DuckDbStore({ path, logger });
  await store.start();
  await store.migrate();
  return {
    bus: async () => bus,
    store: () => store,
    async rewrite(api, rows, logKey) {
      await api.stop();
      await bus.stop();
      await store.stop();
      await replaceDuckDbAuditRows(path, rows);
      bus = new MemoryBus({ topicPrefix: 'checkpoints' });
      await bus.start();
      store = new DuckDbStore({ path, logger });
      await store.start();
      return startApi({ bus, store, adminToken, logKey, env: { GLASSHOUSE_LOG_ORIGIN: origin } });
    },
    async cleanup() {
      await bus.stop();
      await store.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

checkpointSuite('Kafka + ClickHouse', async () => {
  const url = inject('clickhouseUrl');
  const unique = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
  const database = `checkpoints_${unique}`;
  const clients: Array<Bus | Store> = [];
  const bus = async () => {
    const client = new KafkaBus({
      brokers: inject('kafkaBrokers').split(','),
      clientId: 'checkpoints-test',
      topicPrefix: `checkpoints-${unique}`,
      logger,
      sessionTimeoutMs: 6_000,
      heartbeatIntervalMs: 300,
      maxWaitTimeMs: 100,
    });
    await client.start();
    clients.push(client);
    return client;
  };
  const store = new ClickHouseStore({ url, database, logger });
  await store.start();
  await store.migrate();
  clients.push(store);
  return {
    bus,
    store: () => store,
    async rewrite(api, rows, logKey) {
      await api.stop();
      await replaceClickHouseAuditRows(url, database, store, rows);
      return startApi({
        bus: await bus(),
        store,
        adminToken,
        logKey,
        env: { GLASSHOUSE_LOG_ORIGIN: origin },
      });
    },
    async cleanup() {
      for (const client of clients.reverse()) await client.stop();
      const raw = createClient({ url });
      await raw.command({ query: `DROP DATABASE IF EXISTS ${database}` }).finally(() => raw.close());
    },
  };
});
