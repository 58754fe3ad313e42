import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { startLocalKafka } from '../../infra/kafka/local.js';
import { KafkaBus, type KafkaBusOptions } from '../../services/adapters/kafka/index.js';
import type { Bus } from '../../services/ports/bus.js';
import { Deferred } from '../../services/runtime/sync.js';
import { busContract } from '../contract/bus-contract.js';

const logger = pino({ level: process.env.GLASSHOUSE_LOG_LEVEL ?? 'silent' });

/** Short timeouts so rebalances in tests take about a second, not the production defaults. */
function kafkaBus(brokers: string, extra: Partial<KafkaBusOptions> = {}): KafkaBus {
  return new KafkaBus({
    brokers: brokers.split(','),
    clientId: 'glasshouse-test',
    topicPrefix: `t-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`,
    logger,
    sessionTimeoutMs: 6_000,
    heartbeatIntervalMs: 300,
    maxWaitTimeMs: 300,
    ...extra,
  });
}

busContract('kafka', {
  async createBus(): Promise<Bus> {
    const bus = kafkaBus(inject('kafkaBrokers'));
    await bus.start();
    return bus;
  },
  waitMs: 30_000,
});

describe('KafkaBus consumption concurrency', () => {
  it('hands batches of several partitions to onBatch at once', async () => {
    const bus = kafkaBus(inject('kafkaBrokers'));
    await bus.start();
    try {
      await bus.ensureTopics([{ name: 'concurrent', partitions: 3 }]);
      const keys = Array.from({ length: 12 }, (_, i) => `k${i}`);
      const partitions = new Set(await Promise.all(keys.map((k) => bus.partitionFor('concurrent', k))));
      expect(partitions.size).toBe(3);
      await bus.publish(
        'concurrent',
        keys.map((key) => ({ key, value: key })),
      );
      let inFlight = 0;
      let most = 0;
      let seen = 0;
      const two = new Deferred();
      const consumption = await bus.consume({
        topic: 'concurrent',
        group: 'concurrent',
        fromBeginning: true,
        concurrency: 3,
        onBatch: async (batch) => {
          inFlight += 1;
          most = Math.max(most, inFlight);
          if (inFlight >= 2) two.resolve();
          // Hold the batches until two partitions' batches are in flight at once (or 3 s pass).
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([two.promise, new Promise((r) => (timer = setTimeout(r, 3_000)))]);
          clearTimeout(timer);
          seen += batch.records.length;
          inFlight -= 1;
        },
      });
      await expect.poll(() => seen, { timeout: 30_000 }).toBeGreaterThanOrEqual(keys.length);
      await consumption.stop();
      expect(most).toBeGreaterThanOrEqual(2);
    } finally {
      await bus.stop();
    }
  });
});

describe('KafkaBus against a broker that dies', () => {
  const stops: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const stop of stops.reverse()) await stop().catch(() => {});
  });

  it('fails a publish with a retriable code while the broker is down, then recovers', async () => {
    const kafka = await startLocalKafka({ heapMb: 256 });
    stops.push(() => kafka.stop());
    const bus = kafkaBus(kafka.brokers, {
      publishRetries: 2,
      requestTimeoutMs: 2_000,
      connectionTimeoutMs: 500,
    });
    stops.push(() => bus.stop());
    await bus.start();
    await bus.ensureTopics([{ name: 'metrics.raw', partitions: 2 }]);
    const seen: string[] = [];
    await bus.consume({
      topic: 'metrics.raw',
      group: 'processor',
      fromBeginning: true,
      onBatch: async (b) => void seen.push(...b.records.map((r) => r.value.toString())),
    });
    await bus.publish('metrics.raw', [{ key: 'm1', value: 'before' }]);
    await expect.poll(() => seen.includes('before'), { timeout: 20_000 }).toBe(true);

    await kafka.kill();
    const err = await bus.publish('metrics.raw', [{ key: 'm1', value: 'during' }]).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'bus_unavailable', retriable: true });
    expect(bus.health().state).not.toBe('ok');

    await kafka.restart();
    // The producer was replaced after the failure; retrying on the same bus goes through once the
    // broker is back (the first attempts may still see stale metadata).
    await expect
      .poll(
        () =>
          bus.publish('metrics.raw', [{ key: 'm1', value: 'after' }]).then(
            () => 'published',
            (err: { code?: string }) => err.code,
          ),
        { timeout: 30_000, interval: 200 },
      )
      .toBe('published');
    await expect.poll(() => seen.includes('after'), { timeout: 30_000 }).toBe(true);
    // The consumer rejoined on its own and reports progress again; the producer is fine again.
    await expect.poll(() => bus.health().state, { timeout: 30_000 }).toBe('ok');
  });
});
