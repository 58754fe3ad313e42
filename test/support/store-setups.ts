import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@clickhouse/client';
import { pino } from 'pino';
import { inject, vi } from 'vitest';
import { ClickHouseStore } from '../../services/adapters/clickhouse/index.js';
import { DuckDbStore } from '../../services/adapters/duckdb/index.js';
import { KafkaBus } from '../../services/adapters/kafka/index.js';
import { MemoryBus } from '../../services/adapters/memory/index.js';
import type { Bus } from '../../services/ports/bus.js';
import type { Store } from '../../services/ports/store.js';

export const testLogger = pino({ level: process.env.GLASSHOUSE_TEST_LOG ?? 'silent' });

/** A started bus and store (migrated) of one deployment shape; `bus()` makes another client of the same bus. */
export interface Deployment {
  store: Store;
  bus(): Promise<Bus>;
  cleanup(): Promise<void>;
}

/** Standalone: the in-process bus and a DuckDB file in a temp dir. */
export async function standalone(name: string): Promise<Deployment> {
  const dir = await mkdtemp(join(tmpdir(), `glasshouse-${name}-`));
  const bus = new MemoryBus({ topicPrefix: name });
  await bus.start();
  const store = new DuckDbStore({ path: join(dir, 'store.duckdb'), logger: testLogger });
  await store.start();
  await store.migrate();
  return {
    store,
    bus: async () => bus,
    async cleanup() {
      await bus.stop();
      await store.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Distributed: real Kafka (unique topic prefix) and ClickHouse (unique database) from the global setup. */
export async function distributed(name: string): Promise<Deployment> {
  const brokers = inject('kafkaBrokers').split(',');
  const url = inject('clickhouseUrl');
  const unique = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const topicPrefix = `${name}-${unique}`;
  const database = `${name.replaceAll('-', '_')}_${unique}`;
  const buses: Bus[] = [];
  const store = new ClickHouseStore({ url, database, logger: testLogger });
  await store.start();
  await store.migrate();
  return {
    store,
    async bus() {
      const bus = new KafkaBus({
        brokers,
        clientId: name,
        topicPrefix,
        logger: testLogger,
        sessionTimeoutMs: 6_000,
        heartbeatIntervalMs: 300,
        maxWaitTimeMs: 100,
      });
      await bus.start();
      buses.push(bus);
      return bus;
    },
    async cleanup() {
      for (const bus of buses.reverse()) await bus.stop();
      await store.stop();
      const raw = createClient({ url });
      await raw.command({ query: `DROP DATABASE IF EXISTS ${database}` }).finally(() => raw.close());
    },
  };
}

/** Polls `probe` until it returns a value, or fails after `timeoutMs`. */
export function waitFor<T>(
  probe: () => Promise<T | undefined>,
  what: string,
  timeoutMs = 20_000,
): Promise<T> {
  return vi.waitFor(
    async () => {
      const value = await probe();
      if (value === undefined) throw new Error(`timed out waiting for ${what}`);
      return value;
    },
    { timeout: timeoutMs, interval: 50 },
  );
}
