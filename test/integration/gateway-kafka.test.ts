import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { KafkaBus } from '../../services/adapters/kafka/index.js';
import {
  LiveClient,
  publishLive,
  type RunningGateway,
  sampleUpdate,
  startGateway,
} from '../support/gateway-harness.js';
import { sampleRegistry } from '../support/registry-fixture.js';

// Two gateway replicas, each with its own Kafka connection, on the real broker: both deliver every update.
const prefix = `gw-kafka-${randomBytes(4).toString('hex')}`;
const toStop: Array<{ stop(): Promise<void> }> = [];

function kafkaBus(clientId: string): KafkaBus {
  return new KafkaBus({
    brokers: inject('kafkaBrokers').split(','),
    clientId,
    topicPrefix: prefix,
    logger: pino({ level: 'silent' }),
  });
}

afterAll(async () => {
  for (const part of toStop.reverse()) await part.stop();
});

describe('gateway replicas on Kafka', () => {
  it('each reads every update as a broadcast reader and fans it out to its own subscribers', async () => {
    const producer = kafkaBus('gw-test-producer');
    await producer.start();
    toStop.push(producer);
    const gateways: RunningGateway[] = [];
    const clients: LiveClient[] = [];
    for (const name of ['replica-a', 'replica-b']) {
      const bus = kafkaBus(name);
      await bus.start();
      toStop.push(bus);
      const gw = await startGateway({ bus, registry: sampleRegistry() });
      toStop.push(gw);
      gateways.push(gw);
      const client = await LiveClient.connect(gw.url);
      toStop.push({ stop: async () => client.close() });
      client.send({ op: 'subscribe', channel: 'module:bus-punctuality' });
      await client.next('snapshot');
      clients.push(client);
    }

    // Probe until both replicas read the topic (their readers start at the end), then the real run.
    const deadline = Date.now() + 30_000;
    let probe = 0;
    while (!clients.every((c) => c.messages.some((m) => m.type === 'update'))) {
      if (Date.now() > deadline) throw new Error('the replicas never started reading');
      probe += 1;
      await publishLive(producer, [sampleUpdate({ goalId: 'probe', value: probe })]);
      await Promise.race(clients.map((c) => c.next('update', () => true, 0, 1_000).catch(() => undefined)));
    }
    const updates = Array.from({ length: 50 }, (_, i) =>
      sampleUpdate({ asOf: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(), value: i }),
    );
    await publishLive(producer, updates);
    for (const client of clients) {
      const got = await client.until(
        'all 50 updates',
        (ms) => {
          const found = ms.filter(
            (m) => m.type === 'update' && (m.data as { goalId: string }).goalId === 'ontime',
          );
          return found.length === 50 && found;
        },
        30_000,
      );
      expect(got.map((m) => (m.data as { value: number }).value)).toEqual(updates.map((u) => u.value));
      const seqs = got.map((m) => m.seq as number);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    }
    expect(new Set(clients.map((c) => c.messages.find((m) => m.type === 'snapshot')?.epoch)).size).toBe(2);
  });
});
