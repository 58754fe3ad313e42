import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, describe, expect, inject, it } from 'vitest';
import type { AlertEvent } from '../../schemas/alert.js';
import { ClickHouseStore } from '../../services/adapters/clickhouse/index.js';
import { KafkaBus } from '../../services/adapters/kafka/index.js';
import { systemClock } from '../../services/ports/clock.js';
import { Topics, topicSpecs } from '../../services/ports/topics.js';
import { verifyModule } from '../../services/processor/maintenance.js';
import { ProcessorMetrics } from '../../services/processor/metrics.js';
import { Processor } from '../../services/processor/processor.js';
import { testCommandKey } from '../support/command-key.js';
import { collect, meanGoalModule, metricRecord, values, waitUntil } from '../support/processor-harness.js';
import { FixtureRegistry } from '../support/registry-fixture.js';

// One processor in this process on the real broker and ClickHouse: alert latency and lifecycle, DLQ, ground truth.
const suffix = randomBytes(4).toString('hex');
const prefix = `proc-kafka-${suffix}`;
const logger = pino({ level: 'silent' });
const toStop: Array<{ stop(): Promise<void> }> = [];

afterAll(async () => {
  for (const part of toStop.reverse()) await part.stop().catch(() => {});
});

describe('processor on Kafka and ClickHouse', () => {
  it('raises exactly one goal_deviation within 2 s and resolves it when values recover', async () => {
    const bus = new KafkaBus({
      brokers: inject('kafkaBrokers').split(','),
      clientId: 'proc-test',
      topicPrefix: prefix,
      logger,
    });
    await bus.start();
    toStop.push(bus);
    await bus.ensureTopics(topicSpecs);
    const store = new ClickHouseStore({
      url: inject('clickhouseUrl'),
      database: `proc_kafka_${suffix}`,
      logger,
    });
    await store.start();
    toStop.push(store);
    await store.migrate();
    const registry = new FixtureRegistry({ modules: [meanGoalModule('er-wait')] });
    const module = registry.module('er-wait')!;
    await store.insert('module_versions', [
      {
        module_id: module.id,
        version: module.version,
        updated_ms: Date.parse(module.updatedAt),
        body: module,
      },
    ]);

    const alerts = await collect(bus, Topics.alertsEvents);
    toStop.push(alerts);
    const dlq = await collect(bus, Topics.metricsDlq);
    toStop.push(dlq);
    const processor = new Processor({
      bus,
      store,
      registry,
      clock: systemClock,
      logger,
      metrics: new ProcessorMetrics(new Registry()),
      commandKey: testCommandKey,
    });
    await processor.start();
    toStop.push(processor);
    expect(processor.health().state).toBe('ok');

    const t0 = Date.now();
    await bus.publish(Topics.metricsRaw, [
      metricRecord('er-wait', 'a1', 20, t0),
      metricRecord('er-wait', 'a2', 25, t0 + 1),
    ]);
    await waitUntil(
      'the first events stored',
      async () => (await store.select('metric_events')).length === 2,
      20_000,
    );
    expect(values<AlertEvent>(alerts.records)).toEqual([]);

    const sent = Date.now();
    await bus.publish(Topics.metricsRaw, [metricRecord('er-wait', 'a3', 400, t0 + 2)]);
    const firing = await waitUntil(
      'a firing goal_deviation',
      () =>
        values<AlertEvent>(alerts.records).find((a) => a.kind === 'goal_deviation' && a.state === 'firing'),
      5_000,
      10,
    );
    expect(Date.now() - sent).toBeLessThan(2_000);
    expect(firing.moduleVersion).toBe(1);

    // A poison record in between is set aside and does not hold anything up.
    await bus.publish(Topics.metricsRaw, [
      { key: 'er-wait', value: 'not json', headers: { 'glasshouse-agency': 'clinic-agency' } },
    ]);
    await bus.publish(
      Topics.metricsRaw,
      Array.from({ length: 60 }, (_, i) => metricRecord('er-wait', `r${i}`, 5, t0 + 3 + i)),
    );
    await waitUntil('the alert resolved', () =>
      values<AlertEvent>(alerts.records).some((a) => a.alertId === firing.alertId && a.state === 'resolved'),
    );
    await waitUntil('the poison record in the DLQ', () => dlq.records.length === 1);
    const ids = new Set(
      values<AlertEvent>(alerts.records)
        .filter((a) => a.kind === 'goal_deviation')
        .map((a) => a.alertId),
    );
    expect(ids.size).toBe(1);
    // The DLQ record and the dead_letters row are written concurrently: wait for the row too.
    const deadLetter = await waitUntil(
      'the poison record stored',
      async () => (await store.select('dead_letters'))[0],
    );
    expect(deadLetter.reason).toMatch(/^malformed_json/);
    const report = await waitUntil('ground truth agrees', async () => {
      const r = await verifyModule(store, 'er-wait');
      return r && r.differences.length === 0 && r.events === 63 ? r : undefined;
    });
    expect(report.rollups).toBeGreaterThan(0);
  });
});
