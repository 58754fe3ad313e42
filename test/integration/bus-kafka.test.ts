import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { startLocalKafka } from '../../infra/kafka/local.js';
import { KafkaBus, type KafkaBusOptions } from '../../services/adapters/kafka/index.js';
import type { Bus } from '../../services/ports/bus.js';
import { busContract, waitFor } from '../contract/bus-contract.js';

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
      const consumption = await bus.consume({
        topic: 'concurrent',
        group: 'concurrent',
        fromBeginning: true,
        concurrency: 3,
        onBatch: async (batch) => {
          inFlight += 1;
          most = Math.max(most, inFlight);
          // Hold each batch until another partition's batch is in flight too (or 3 s pass).
          const until = Date.now() + 3_000;
          while (inFlight < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
          seen += batch.records.length;
          inFlight -= 1;
        },
      });
      await waitFor(
        () => seen >= keys.length,
        30_000,
        () => `${seen}/${keys.length} records`,
      );
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
    await waitFor(
      () => seen.includes('before'),
      20_000,
      () => seen.join(),
    );

    await kafka.kill();
    const err = await bus.publish('metrics.raw', [{ key: 'm1', value: 'during' }]).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'bus_unavailable', retriable: true });
    expect(bus.health().state).not.toBe('ok');

    await kafka.restart();
    // The producer was replaced after the failure; retrying on the same bus goes through once the
    // broker is back (the first attempts may still see stale metadata).
    await eventually(() => bus.publish('metrics.raw', [{ key: 'm1', value: 'after' }]), 30_000);
    await waitFor(
      () => seen.includes('after'),
      30_000,
      () => seen.join(),
    );
    // The consumer rejoined on its own and reports progress again; the producer is fine again.
    await waitFor(
      () => bus.health().state === 'ok',
      30_000,
      () => JSON.stringify(bus.health()),
    );
  });
});

async function eventually(attempt: () => Promise<void>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await attempt();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}
