import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalKafka, startLocalKafka } from '../../infra/kafka/local.js';
import { KafkaBus } from '../../services/adapters/kafka/index.js';
import { Topics } from '../../services/ports/topics.js';
import {
  event,
  type IngestServer,
  postMetrics,
  readTopicUntil,
  startIngestServer,
} from '../support/ingest-harness.js';

// A broker of its own: this file kills and restarts it while requests stream in.
describe('ingest while the broker dies and comes back', () => {
  let kafka: LocalKafka;
  let bus: KafkaBus;
  let server: IngestServer;

  beforeAll(async () => {
    kafka = await startLocalKafka({ heapMb: 256 });
    bus = new KafkaBus({
      brokers: [kafka.brokers],
      clientId: 'ingest-fault',
      topicPrefix: `ingest-fault-${randomBytes(3).toString('hex')}`,
      logger: pino({ level: 'silent' }),
      publishRetries: 2,
      requestTimeoutMs: 2_000,
      connectionTimeoutMs: 1_000,
    });
    await bus.start();
    await bus.ensureTopics([{ name: Topics.metricsRaw, partitions: 3 }]);
    server = await startIngestServer(bus, { publishTimeoutMs: 4_000 });
  }, 180_000);

  afterAll(async () => {
    await server?.stop();
    await bus?.stop();
    await kafka?.stop();
  }, 60_000);

  it('answers 503 while it is down, never 202-then-lost, and recovers by itself', async () => {
    const acknowledged = new Set<string>();
    const statuses = new Map<number, number>();
    let sent = 0;
    let phase: 'before' | 'down' | 'after' = 'before';
    const okAfterRestart = { count: 0 };
    const refusedWhileDown = { count: 0 };

    // Four clients streaming batches of ten until told to stop.
    let streaming = true;
    const client = async (c: number) => {
      while (streaming) {
        const ids = Array.from({ length: 10 }, (_, i) => `c${c}-${sent}-${i}`);
        sent++;
        const modules = ['bus-punctuality', 'tram-punctuality'];
        const answer = await postMetrics(server.url, {
          events: ids.map((id, i) => event(id, { moduleId: modules[i % 2] })),
        });
        statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
        if (answer.status === 202) {
          expect(answer.body).toEqual({ accepted: 10, duplicates: 0, rejected: [] });
          for (const id of ids) acknowledged.add(id);
          if (phase === 'after') okAfterRestart.count++;
        } else {
          expect(answer.status).toBe(503);
          expect(answer.body).toMatchObject({ error: { code: 'bus_unavailable' } });
          if (phase === 'down') refusedWhileDown.count++;
        }
      }
    };
    const clients = Promise.all([0, 1, 2, 3].map(client));

    await expect.poll(() => acknowledged.size, { timeout: 30_000 }).toBeGreaterThanOrEqual(200);
    phase = 'down';
    await kafka.kill();
    await expect.poll(() => refusedWhileDown.count, { timeout: 60_000 }).toBeGreaterThanOrEqual(4);
    await kafka.restart();
    phase = 'after';
    await expect.poll(() => okAfterRestart.count, { timeout: 90_000 }).toBeGreaterThanOrEqual(20);
    streaming = false;
    await clients;

    expect([...statuses.keys()].sort()).toEqual([202, 503]);
    const records = await readTopicUntil(
      bus,
      Topics.metricsRaw,
      (r) => {
        const onTopic = new Set(r.map((x) => JSON.parse(x.value.toString()).eventId as string));
        return [...acknowledged].every((id) => onTopic.has(id));
      },
      60_000,
    );
    const onTopic = new Set(records.map((x) => JSON.parse(x.value.toString()).eventId as string));
    const lost = [...acknowledged].filter((id) => !onTopic.has(id));
    expect(lost).toEqual([]);
  }, 300_000);
});
