import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import type { AlertEvent } from '../../schemas/alert.js';
import { agencyHeader } from '../../schemas/metric-event.js';
import type { PerformanceUpdate } from '../../schemas/performance.js';
import type { PolicyModuleInput } from '../../schemas/registry.js';
import { DuckDbStore } from '../../services/adapters/duckdb/index.js';
import { MemoryBus } from '../../services/adapters/memory/index.js';
import type { OutgoingRecord } from '../../services/ports/bus.js';
import { systemClock } from '../../services/ports/clock.js';
import { Topics, topicSpecs } from '../../services/ports/topics.js';
import { verifyModule } from '../../services/processor/maintenance.js';
import { ProcessorMetrics } from '../../services/processor/metrics.js';
import { Processor } from '../../services/processor/processor.js';
import { testCommandKey } from '../support/command-key.js';
import { collect, values, waitUntil } from '../support/processor-harness.js';
import { FixtureRegistry } from '../support/registry-fixture.js';

const logger = pino({ level: 'silent' });
const dirs: string[] = [];
const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

function module(): PolicyModuleInput {
  const goal = (id: string, aggregation: string, target: number) => ({
    id,
    metric: 'wait_minutes',
    unit: 'min',
    direction: 'decrease' as const,
    target,
    tolerance: 0,
    window: '1h',
    aggregation: aggregation as 'mean',
    minSamples: 1,
    hold: '0s',
  });
  return {
    id: 'er-wait',
    domain: 'health',
    title: 'ER wait',
    owner: 'ada',
    agencies: ['clinic-agency', 'other-agency'],
    allowedLateness: '10m',
    goals: [
      goal('count', 'count', 1000),
      goal('sum', 'sum', 1e6),
      goal('peak', 'max', 60),
      goal('p95', 'p95', 1e6),
    ],
  };
}

async function rig() {
  const bus = new MemoryBus({ retryBaseMs: 5 });
  await bus.start();
  await bus.ensureTopics(topicSpecs);
  const dir = await mkdtemp(join(tmpdir(), 'gh-corrections-'));
  dirs.push(dir);
  const store = new DuckDbStore({ path: join(dir, 'store.duckdb'), logger });
  await store.start();
  await store.migrate();
  const registry = new FixtureRegistry({ modules: [module()] });
  for (const m of registry.modules())
    await store.insert('module_versions', [
      { module_id: m.id, version: m.version, updated_ms: Date.parse(m.updatedAt), body: m },
    ]);
  const processor = new Processor({
    bus,
    store,
    registry,
    clock: systemClock,
    logger,
    metrics: new ProcessorMetrics(new Registry()),
    commandKey: testCommandKey,
    tickMs: 100,
    backoff: { baseMs: 20, capMs: 200 },
  });
  await processor.start();
  stops.push(async () => {
    await processor.stop();
    await bus.stop();
    await store.stop();
  });
  return { bus, store };
}

function record(event: Record<string, unknown>, agency = 'clinic-agency'): OutgoingRecord {
  return {
    key: 'er-wait',
    value: JSON.stringify({ moduleId: 'er-wait', metric: 'wait_minutes', ...event }),
    headers: { [agencyHeader]: agency },
  };
}

describe('processor: corrections', () => {
  it('restates the windows, the rollups and the alerts, and verify-rollups agrees', async () => {
    const { bus, store } = await rig();
    const updates = await collect(bus, Topics.performanceUpdates);
    const alerts = await collect(bus, Topics.alertsEvents);
    const t = Date.now() - 60_000;
    await bus.publish(Topics.metricsRaw, [
      record({ eventId: 'a', value: 10, observedAt: t }),
      record({ eventId: 'b', value: 20, observedAt: t + 1_000 }),
      // A misread meter: 95 minutes instead of 25; the max goal (at most 60) fails.
      record({ eventId: 'c', value: 95, observedAt: t + 2_000 }),
      record({ eventId: 'd', value: 30, observedAt: t + 3_000 }),
    ]);
    const latest = (goal: string) =>
      values<PerformanceUpdate>(updates.records)
        .filter((u) => u.goalId === goal)
        .at(-1);
    await waitUntil('4 events counted', () => latest('count')?.value === 4);
    await waitUntil('peak alert firing', () =>
      values<AlertEvent>(alerts.records).some((a) => a.ruleId === 'peak' && a.state === 'firing'),
    );
    // In one batch: c restated, then the restatement restated again (the chain resolves to the newest),
    // a retraction of a, and a plain event after them.
    await bus.publish(Topics.metricsRaw, [
      record({ eventId: 'c2', value: 35, observedAt: t + 2_000, supersedes: 'c', note: 'meter misread' }),
      record({ eventId: 'c3', value: 25, observedAt: t + 2_500, supersedes: 'c', note: 'second look' }),
      record({
        eventId: 'a-x',
        value: 10,
        observedAt: t,
        supersedes: 'a',
        retract: true,
        note: 'sent twice',
      }),
      record({ eventId: 'e', value: 40, observedAt: t + 4_000 }),
    ]);
    await waitUntil('restated counts', () => latest('count')?.value === 4 && latest('sum')?.value === 115);
    // Value-only updates are coalesced (one a second): the peak's restated value follows.
    await waitUntil('peak restated', () => latest('peak')?.value === 40);
    expect(latest('peak')).toMatchObject({ status: 'on_track' });
    const resolved = await waitUntil('peak alert restated', () =>
      values<AlertEvent>(alerts.records).find((a) => a.ruleId === 'peak' && a.state === 'resolved'),
    );
    expect(resolved).toMatchObject({ reason: 'restated' });
    const stored = await store.select('metric_events', {
      where: [{ column: 'supersedes', op: '!=', value: '' }],
    });
    expect(stored.map((r) => [r.event_id, r.supersedes, r.retract, r.note]).sort()).toEqual([
      ['a-x', 'a', true, 'sent twice'],
      ['c2', 'c', false, 'meter misread'],
      ['c3', 'c2', false, 'second look'],
    ]);
    const report = await waitUntil('verify-rollups', async () => {
      const r = await verifyModule(store, 'er-wait');
      return r && r.total === 0 ? r : undefined;
    });
    expect(report.differences).toEqual([]);
  });

  it('refuses an unknown, foreign or retracted supersedes per event, with the reason', async () => {
    const { bus, store } = await rig();
    const t = Date.now() - 30_000;
    await bus.publish(Topics.metricsRaw, [
      record({ eventId: 'a', value: 10, observedAt: t }),
      record({ eventId: 'a-x', value: 10, observedAt: t, supersedes: 'a', retract: true }),
      record({ eventId: 'mine', value: 10, observedAt: t }, 'other-agency'),
    ]);
    await waitUntil('3 stored', async () => (await store.select('metric_events')).length === 3);
    await bus.publish(Topics.metricsRaw, [
      record({ eventId: 'x1', value: 1, observedAt: t, supersedes: 'nope' }),
      record({ eventId: 'x2', value: 1, observedAt: t, supersedes: 'mine' }),
      record({ eventId: 'x3', value: 1, observedAt: t, supersedes: 'a' }),
    ]);
    const letters = await waitUntil('3 dead letters', async () => {
      const rows = await store.select('dead_letters');
      return rows.length === 3 ? rows : undefined;
    });
    expect(letters.map((l) => l.reason.split(':')[0]).sort()).toEqual([
      'correction_conflict',
      'unknown_supersedes',
      'unknown_supersedes',
    ]);
    expect(letters.map((l) => l.reason).join('\n')).toContain('agency "clinic-agency" has no event "mine"');
    expect((await store.select('metric_events')).map((r) => r.event_id).sort()).toEqual(['a', 'a-x', 'mine']);
  });
});
