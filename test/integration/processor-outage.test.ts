import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { type LocalClickHouse, startLocalClickHouse } from '../../infra/clickhouse/local.js';
import type { AlertEvent } from '../../schemas/alert.js';
import { ClickHouseStore } from '../../services/adapters/clickhouse/index.js';
import { KafkaBus } from '../../services/adapters/kafka/index.js';
import { systemClock } from '../../services/ports/clock.js';
import { Topics, topicSpecs } from '../../services/ports/topics.js';
import { verifyModule } from '../../services/processor/maintenance.js';
import { ProcessorMetrics } from '../../services/processor/metrics.js';
import { Processor } from '../../services/processor/processor.js';
import { HttpServer } from '../../services/runtime/http.js';
import { Lifecycle } from '../../services/runtime/lifecycle.js';
import { testCommandKey } from '../support/command-key.js';
import { collect, meanGoalModule, metricRecord, values, waitUntil } from '../support/processor-harness.js';
import { FixtureRegistry } from '../support/registry-fixture.js';

// ClickHouse (a dedicated server, killed and restarted on its data) gone for 10 s under load.
const suffix = randomBytes(4).toString('hex');
const logger = pino({ level: 'silent' });
const toStop: Array<{ stop(): Promise<void> }> = [];
let clickhouse: LocalClickHouse | undefined;

afterAll(async () => {
  for (const part of toStop.reverse()) await part.stop().catch(() => {});
  await clickhouse?.stop();
});

describe('processor through a ClickHouse outage', () => {
  it('loses nothing, stays in its group, and resumes when ClickHouse is back', async () => {
    clickhouse = await startLocalClickHouse();
    const bus = new KafkaBus({
      brokers: inject('kafkaBrokers').split(','),
      clientId: 'proc-outage',
      topicPrefix: `proc-outage-${suffix}`,
      logger,
    });
    await bus.start();
    toStop.push(bus);
    await bus.ensureTopics(topicSpecs);
    const store = new ClickHouseStore({
      url: clickhouse.url,
      database: `proc_outage_${suffix}`,
      logger,
      requestTimeoutMs: 2_000,
    });
    await store.start();
    toStop.push(store);
    await store.migrate();
    const modules = Array.from({ length: 4 }, (_, i) => meanGoalModule(`o${i}`));
    const registry = new FixtureRegistry({ modules });
    await store.insert(
      'module_versions',
      registry
        .modules()
        .map((m) => ({ module_id: m.id, version: m.version, updated_ms: Date.parse(m.updatedAt), body: m })),
    );
    const metrics = new Registry();
    const alerts = await collect(bus, Topics.alertsEvents);
    toStop.push(alerts);
    const processor = new Processor({
      bus,
      store,
      registry,
      clock: systemClock,
      logger,
      metrics: new ProcessorMetrics(metrics),
      commandKey: testCommandKey,
    });
    await processor.start();
    toStop.push(processor);
    // /readyz as a role serves it, over the real store's and processor's health.
    const lifecycle = new Lifecycle(logger, 1_000);
    for (const part of [store, processor])
      lifecycle.add({
        name: part.name,
        start: async () => {},
        stop: async () => {},
        health: () => part.health(),
      });
    const http = new HttpServer({ host: '127.0.0.1', port: 0, logger, metrics, lifecycle, version: 'test' });
    await lifecycle.start();
    const readyz = async () => (await http.app.inject({ url: '/readyz' })).statusCode;
    expect(await readyz()).toBe(200);

    const t0 = Date.now();
    let round = 0;
    const publishRound = () =>
      bus.publish(
        Topics.metricsRaw,
        modules.map((m) => metricRecord(m.id, `${m.id}-${round}`, m.id === 'o0' ? 300 : 10, t0 + round * 10)),
      );
    for (; round < 50; round++) await publishRound();
    await waitUntil(
      'the first rounds stored',
      async () => (await store.select('metric_events')).length >= 100,
      20_000,
    );
    const assignedBefore = processor.assigned();

    await clickhouse.kill();
    const downAt = Date.now();
    // Under load while ClickHouse is down: keep publishing for 10 s.
    while (Date.now() - downAt < 10_000) {
      await publishRound();
      round++;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(processor.health().state).toBe('degraded');
    // The store's background ping has seen the outage: not ready, without saying where it failed.
    await waitUntil('/readyz 503 while ClickHouse is down', async () => (await readyz()) === 503, 10_000);
    const failures = await metrics.getSingleMetricAsString('glasshouse_processor_sink_failures_total');
    expect(failures).toMatch(/step=/);
    await clickhouse.restart();
    for (let i = 0; i < 20; i++, round++) await publishRound();

    const total = round * modules.length;
    await waitUntil(
      'every event stored once',
      async () => (await store.select('metric_events')).length === total,
      60_000,
      250,
    );
    await waitUntil(
      'every event in the rollups',
      async () => {
        const rows = await store.select('rollups');
        return rows.reduce((n, r) => n + r.count, 0) === total;
      },
      30_000,
      250,
    );
    for (const m of modules) {
      await waitUntil(
        `ground truth for ${m.id}`,
        async () => (await verifyModule(store, m.id))?.differences.length === 0,
        20_000,
        250,
      );
    }
    await waitUntil('healthy again', () => processor.health().state === 'ok', 20_000);
    await waitUntil('/readyz 200 again', async () => (await readyz()) === 200, 20_000);
    // No rebalance storm: the member kept its partitions throughout.
    expect(processor.assigned()).toEqual(assignedBefore);
    expect(assignedBefore).toEqual([0, 1, 2, 3, 4, 5]);
    const changes = await metrics.getSingleMetricAsString('glasshouse_processor_partition_changes_total');
    expect(changes).not.toMatch(/change="revoked"/);
    const deviations = values<AlertEvent>(alerts.records).filter((a) => a.kind === 'goal_deviation');
    expect(new Set(deviations.map((a) => a.alertId)).size).toBe(1);
  });
});
