import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import type { AlertEvent } from '../../schemas/alert.js';
import { agencyHeader } from '../../schemas/metric-event.js';
import type { PerformanceUpdate } from '../../schemas/performance.js';
import { DuckDbStore } from '../../services/adapters/duckdb/index.js';
import { MemoryBus } from '../../services/adapters/memory/index.js';
import { systemClock } from '../../services/ports/clock.js';
import type { Store } from '../../services/ports/store.js';
import { Topics, topicSpecs } from '../../services/ports/topics.js';
import { verifyModule } from '../../services/processor/maintenance.js';
import { ProcessorMetrics } from '../../services/processor/metrics.js';
import { Processor } from '../../services/processor/processor.js';
import { signedAck, testCommandKey } from '../support/command-key.js';
import { storedEventRows } from '../support/duckdb-raw.js';
import { collect, meanGoalModule, metricRecord, values, waitUntil } from '../support/processor-harness.js';
import { FixtureRegistry } from '../support/registry-fixture.js';

const logger = pino({ level: 'silent' });

interface Rig {
  bus: MemoryBus;
  store: Store;
  registry: FixtureRegistry;
  processor: Processor;
  metrics: Registry;
  /** The DuckDB file (in a temp dir removed after the test). */
  path: string;
}

const rigs: Rig[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const rig of rigs.splice(0)) await stopRig(rig);
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function stopRig(rig: Rig): Promise<void> {
  await rig.processor.stop();
  await rig.bus.stop();
  await rig.store.stop();
}

/**
 * Stops the rig and counts the raw rows of each event in its DuckDB file without the store's
 * read-time dedup, so an event written twice (or not at all) shows.
 */
async function rawRowsAfterStop(rig: Rig): Promise<Map<string, number>> {
  await stopRig(rig);
  return storedEventRows(rig.path);
}

/** A processor on the in-process bus and a DuckDB file, with `wrapStore` to inject failures. */
async function rig(wrapStore: (store: Store) => Store = (s) => s): Promise<Rig> {
  const bus = new MemoryBus({ retryBaseMs: 5 });
  await bus.start();
  await bus.ensureTopics(topicSpecs);
  const dir = await mkdtemp(join(tmpdir(), 'gh-pipeline-'));
  dirs.push(dir);
  const path = join(dir, 'store.duckdb');
  const base = new DuckDbStore({ path, logger });
  await base.start();
  await base.migrate();
  const store = wrapStore(base);
  const registry = new FixtureRegistry({ modules: [meanGoalModule('er-wait')] });
  for (const m of registry.modules()) {
    await base.insert('module_versions', [
      { module_id: m.id, version: m.version, updated_ms: Date.parse(m.updatedAt), body: m },
    ]);
  }
  const metrics = new Registry();
  const processor = new Processor({
    bus,
    store,
    registry,
    clock: systemClock,
    logger,
    metrics: new ProcessorMetrics(metrics),
    commandKey: testCommandKey,
    tickMs: 100,
    backoff: { baseMs: 20, capMs: 200 },
  });
  await processor.start();
  const r = { bus, store: base, registry, processor, metrics, path };
  rigs.push(r);
  return r;
}

const countOf = async (store: Store, table: 'metric_events' | 'dead_letters') =>
  (await store.select(table)).length;

describe('processor on the in-process bus and DuckDB', () => {
  it('raises one goal_deviation for off-target values and resolves it when they recover', async () => {
    const { bus, store } = await rig();
    const alerts = await collect(bus, Topics.alertsEvents);
    const updates = await collect(bus, Topics.performanceUpdates);
    const t0 = Date.now();
    await bus.publish(Topics.metricsRaw, [metricRecord('er-wait', 'e1', 20, t0)]);
    await waitUntil('an on_track update', () =>
      values<PerformanceUpdate>(updates.records).some((u) => u.status === 'on_track'),
    );
    const sent = Date.now();
    await bus.publish(Topics.metricsRaw, [metricRecord('er-wait', 'e2', 200, t0 + 1)]);
    const firing = await waitUntil('a firing goal_deviation', () =>
      values<AlertEvent>(alerts.records).find((a) => a.kind === 'goal_deviation' && a.state === 'firing'),
    );
    expect(Date.now() - sent).toBeLessThan(2_000);
    expect(firing.owner).toBe('ada');
    // Recovery: enough low values to bring the mean under 0.8 × tolerance above the target.
    await bus.publish(
      Topics.metricsRaw,
      Array.from({ length: 20 }, (_, i) => metricRecord('er-wait', `r${i}`, 10, t0 + 2 + i)),
    );
    await waitUntil('the alert resolved', () =>
      values<AlertEvent>(alerts.records).some((a) => a.alertId === firing.alertId && a.state === 'resolved'),
    );
    const opened = new Set(
      values<AlertEvent>(alerts.records)
        .filter((a) => a.kind === 'goal_deviation')
        .map((a) => a.alertId),
    );
    expect(opened.size).toBe(1);
    const stored = await waitUntil('alert versions stored', async () => {
      const rows = await store.select('alerts');
      return rows.some((r) => r.state === 'resolved') ? rows : undefined;
    });
    expect(new Set(stored.map((r) => r.alert_id)).size).toBe(1);
    expect(await countOf(store, 'metric_events')).toBe(22);
    await waitUntil(
      'ground truth agrees',
      async () => (await verifyModule(store, 'er-wait'))?.differences.length === 0,
    );
  });

  it('sends invalid records to metrics.dlq and dead_letters with the reason, and keeps going', async () => {
    const { bus, store } = await rig();
    const dlq = await collect(bus, Topics.metricsDlq);
    const now = Date.now();
    await bus.publish(Topics.metricsRaw, [
      { key: 'er-wait', value: '{"eventId":', headers: { [agencyHeader]: 'clinic-agency' } },
      {
        key: 'er-wait',
        value: JSON.stringify({
          eventId: 'x1',
          moduleId: 'er-wait',
          metric: 'wait_minutes',
          value: 1,
          observedAt: now,
        }),
        headers: {},
      },
      metricRecord('er-wait', 'x2', 5, now, 'other-agency'),
      metricRecord('er-wait', 'x3', 5, now, 'clinic-agency', 'no_such_metric'),
      metricRecord('er-wait', 'ok1', 5, now),
    ]);
    await waitUntil('four dead letters stored', async () => (await countOf(store, 'dead_letters')) === 4);
    await waitUntil('four DLQ records', () => dlq.records.length === 4);
    const reasons = dlq.records.map((r) => r.headers['glasshouse-dlq-reason']).sort();
    expect(reasons).toEqual(['agency_not_allowed', 'malformed_json', 'missing_agency', 'unknown_metric']);
    expect(dlq.records[0]!.value.toString()).toBe('{"eventId":');
    const rows = await store.select('dead_letters');
    expect(rows.every((r) => r.replayed_ms === 0 && r.reason.length > 0)).toBe(true);
    await waitUntil('the valid event stored', async () => (await countOf(store, 'metric_events')) === 1);
  });

  it('pauses and retries while the store fails, then writes every event exactly once', async () => {
    let failing = false;
    let failures = 0;
    const flaky = (store: Store): Store =>
      new Proxy(store, {
        get(target, prop, receiver) {
          if (prop === 'insert') {
            return async (...args: Parameters<Store['insert']>) => {
              if (failing) {
                failures += 1;
                throw new Error('store unavailable (injected)');
              }
              return target.insert(...args);
            };
          }
          const value = Reflect.get(target, prop, receiver);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
    const r = await rig(flaky);
    const { bus, store, processor, metrics } = r;
    const t0 = Date.now();
    failing = true;
    await bus.publish(
      Topics.metricsRaw,
      Array.from({ length: 50 }, (_, i) => metricRecord('er-wait', `f${i}`, 20, t0 + i)),
    );
    await waitUntil('a few failed writes', () => failures >= 3);
    expect(processor.health().state).toBe('degraded');
    expect(await metrics.getSingleMetricAsString('glasshouse_processor_paused_partitions')).toMatch(/ 1$/m);
    await bus.publish(
      Topics.metricsRaw,
      Array.from({ length: 50 }, (_, i) => metricRecord('er-wait', `g${i}`, 20, t0 + 50 + i)),
    );
    failing = false;
    await waitUntil('all 100 events stored', async () => (await countOf(store, 'metric_events')) === 100);
    await waitUntil('healthy again', () => processor.health().state === 'ok');
    await waitUntil(
      'ground truth agrees',
      async () => (await verifyModule(store, 'er-wait'))?.differences.length === 0,
    );
    const rollups = await store.select('rollups');
    expect(rollups.reduce((n, r) => n + r.count, 0)).toBe(100);
    expect(await metrics.getSingleMetricAsString('glasshouse_processor_consumer_lag')).toMatch(/ 0$/m);
    // Exactly once as stored, not only as read: count the file's rows without the store's dedup.
    const rows = await rawRowsAfterStop(r);
    expect(rows.size).toBe(100);
    expect([...rows].filter(([, n]) => n !== 1)).toEqual([]);
  });

  it('keeps the raw rows of a batch whose acknowledgement could not read the store, and applies the ack after', async () => {
    let failing = false;
    let failures = 0;
    const alertsReadFails = (store: Store): Store =>
      new Proxy(store, {
        get(target, prop, receiver) {
          if (prop === 'select') {
            return async (...args: Parameters<Store['select']>) => {
              if (failing && args[0] === 'alerts') {
                failures += 1;
                throw new Error('alerts read failed (injected)');
              }
              return target.select(...args);
            };
          }
          const value = Reflect.get(target, prop, receiver);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
    const r = await rig(alertsReadFails);
    const alerts = await collect(r.bus, Topics.alertsEvents);
    const t0 = Date.now();
    await r.bus.publish(Topics.metricsRaw, [metricRecord('er-wait', 'a0', 200, t0)]);
    const firing = await waitUntil('a firing goal_deviation', () =>
      values<AlertEvent>(alerts.records).find((a) => a.state === 'firing'),
    );
    failing = true;
    // One batch: events, then an acknowledgement whose stored versions cannot be read yet.
    const ack = { alertId: firing.alertId, by: 'desk', note: 'seen', at: Date.now() };
    await r.bus.publish(Topics.metricsRaw, [
      ...Array.from({ length: 5 }, (_, i) => metricRecord('er-wait', `a${i + 1}`, 20, t0 + 1 + i)),
      signedAck('er-wait', ack),
    ]);
    await waitUntil('the alerts read failing', () => failures >= 2);
    failing = false;
    await waitUntil('the acknowledged version published', () =>
      values<AlertEvent>(alerts.records).find((a) => a.acknowledgedBy === 'desk'),
    );
    await waitUntil('the acknowledged version stored', async () =>
      (await r.store.select('alerts')).some(
        (row) => (row.body as AlertEvent).acknowledgedBy === 'desk' && row.alert_id === firing.alertId,
      ),
    );
    await waitUntil(
      'the six events readable',
      async () => (await countOf(r.store, 'metric_events')) === 6,
      3_000,
    );
    // Stored rollups agree with SQL over the raw events (a lost raw row would break this).
    await waitUntil(
      'ground truth agrees',
      async () => (await verifyModule(r.store, 'er-wait'))?.differences.length === 0,
      3_000,
    );
    const rows = await rawRowsAfterStop(r);
    expect(Object.fromEntries(rows)).toEqual({ a0: 1, a1: 1, a2: 1, a3: 1, a4: 1, a5: 1 });
  }, 20_000);

  it('after dying between raw events and rollups, the next owner counts the redelivered events once', async () => {
    let rollupsFail = true;
    const noRollups = (store: Store): Store =>
      new Proxy(store, {
        get(target, prop, receiver) {
          if (prop === 'insert') {
            return async (...args: Parameters<Store['insert']>) => {
              if (rollupsFail && args[0] === 'rollups') throw new Error('died before the rollups (injected)');
              return target.insert(...args);
            };
          }
          const value = Reflect.get(target, prop, receiver);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
    const first = await rig(noRollups);
    const t0 = Date.now();
    await first.bus.publish(
      Topics.metricsRaw,
      Array.from({ length: 10 }, (_, i) => metricRecord('er-wait', `d${i}`, 20, t0 + i)),
    );
    await waitUntil('raw events written', async () => (await countOf(first.store, 'metric_events')) === 10);
    await first.processor.stop();
    rollupsFail = false;
    // The next owner: same bus (uncommitted batch), same store (raw events without their rollups).
    const next = new Processor({
      bus: first.bus,
      store: first.store,
      registry: first.registry,
      clock: systemClock,
      logger,
      metrics: new ProcessorMetrics(new Registry()),
      commandKey: testCommandKey,
      tickMs: 100,
    });
    await next.start();
    rigs.push({ ...first, processor: next });
    await waitUntil('rollups written', async () => (await first.store.select('rollups')).length > 0);
    await waitUntil(
      'ground truth agrees',
      async () => (await verifyModule(first.store, 'er-wait'))?.differences.length === 0,
    );
    const rollups = await first.store.select('rollups');
    expect(rollups.reduce((n, r) => n + r.count, 0)).toBe(10);
  });
});
