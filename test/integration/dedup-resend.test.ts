import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import { DuckDbStore } from '../../services/adapters/duckdb/index.js';
import { MemoryBus } from '../../services/adapters/memory/index.js';
import type { Store } from '../../services/ports/store.js';
import { Topics, topicSpecs } from '../../services/ports/topics.js';
import { verifyModule } from '../../services/processor/maintenance.js';
import { ProcessorMetrics } from '../../services/processor/metrics.js';
import { Processor } from '../../services/processor/processor.js';
import { testCommandKey } from '../support/command-key.js';
import { storedEventRows } from '../support/duckdb-raw.js';
import { meanGoalModule, metricRecord, waitUntil } from '../support/processor-harness.js';
import { FixtureRegistry } from '../support/registry-fixture.js';

// Dedup past the memory's horizon: the processor keeps an (agency, eventId) in memory only while its
// event is inside the lateness bound; a resend hours later is answered by the store, across restarts.
// Simulated time (an injected clock) moves 25 h in a few seconds.
const logger = pino({ level: 'silent' });
const hourMs = 3_600_000;
const t0 = Date.UTC(2026, 5, 1, 8, 0, 0);

let dir: string;
let bus: MemoryBus;
let store: DuckDbStore;
let now = t0;
const clock = { now: () => now };
const registry = new FixtureRegistry({ modules: [meanGoalModule('er-wait', { window: '1h' })] });

afterAll(async () => {
  await bus?.stop();
  await store?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Running {
  processor: Processor;
  metrics: Registry;
}

async function startProcessor(): Promise<Running> {
  const metrics = new Registry();
  const processor = new Processor({
    bus,
    store,
    registry,
    clock,
    logger,
    metrics: new ProcessorMetrics(metrics),
    commandKey: testCommandKey,
    tickMs: 20,
  });
  await processor.start();
  return { processor, metrics };
}

async function counter(metrics: Registry, outcome: string): Promise<number> {
  const text = await metrics.getSingleMetricAsString('glasshouse_processor_records_total');
  const match = new RegExp(`outcome="${outcome}"} (\\d+)`).exec(text);
  return match ? Number(match[1]) : 0;
}

async function memory(metrics: Registry): Promise<number> {
  const text = await metrics.getSingleMetricAsString('glasshouse_processor_dedup_memory_events');
  return Number(/ (\d+)$/m.exec(text)?.[1] ?? Number.NaN);
}

const batch = (prefix: string, count: number, observedAt: number) =>
  Array.from({ length: count }, (_, i) => metricRecord('er-wait', `${prefix}${i}`, 20, observedAt + i));

describe('dedup behind the horizon (in-process bus, DuckDB, injected clock)', () => {
  it('counts resends 1 h (same process), 12 h and 25 h later (after restarts) once', async () => {
    dir = await mkdtemp(join(tmpdir(), 'gh-dedup-'));
    bus = new MemoryBus({ retryBaseMs: 5, clock });
    await bus.start();
    await bus.ensureTopics(topicSpecs);
    store = new DuckDbStore({ path: join(dir, 'store.duckdb'), logger });
    await store.start();
    await store.migrate();
    for (const m of registry.modules())
      await store.insert('module_versions', [
        { module_id: m.id, version: m.version, updated_ms: Date.parse(m.updatedAt), body: m },
      ]);

    let running = await startProcessor();
    await bus.publish(Topics.metricsRaw, batch('e', 100, t0 - 1_000));
    await waitUntil('100 events counted', async () => (await counter(running.metrics, 'accepted')) === 100);

    const resend = async (label: string, at: number, restart: boolean) => {
      now = at;
      // A current event moves the watermark; the memory forgets what fell behind it once written.
      const tag = label.replace(' ', '');
      await bus.publish(Topics.metricsRaw, batch(`fresh${tag}-`, 1, at - 1_000));
      await waitUntil(`${label}: dedup memory holds only the current event`, async () => {
        now += 1_000;
        return (await memory(running.metrics)) === 1;
      });
      if (restart) {
        await running.processor.stop();
        running = await startProcessor();
      }
      const before = await counter(running.metrics, 'duplicate');
      const counted = (await counter(running.metrics, 'accepted')) + (await counter(running.metrics, 'late'));
      // The same 100 events, and 10 new ones observed as long ago (they restate stored history).
      await bus.publish(Topics.metricsRaw, [...batch('e', 100, t0 - 1_000), ...batch(`new${tag}-`, 10, t0)]);
      await waitUntil(
        `${label}: resends answered as duplicates, new ones counted`,
        async () =>
          (await counter(running.metrics, 'duplicate')) - before === 100 &&
          (await counter(running.metrics, 'accepted')) +
            (await counter(running.metrics, 'late')) -
            counted ===
            10,
      );
      // The store answered: every event of the batch was observed before the memory's horizon.
      const lookups = await running.metrics.getSingleMetricAsString(
        'glasshouse_processor_dedup_lookups_total',
      );
      expect(Number(/ (\d+)$/m.exec(lookups)?.[1])).toBeGreaterThanOrEqual(110);
    };
    await resend('1 h', t0 + hourMs, false);
    await resend('12 h', t0 + 12 * hourMs, true);
    await resend('25 h', t0 + 25 * hourMs, true);

    const expected = 133; // 100, then 10 new and 1 current event at each of the three resends
    await waitUntil('rollups count every event once', async () => {
      const rows = await store.select('rollups', {
        where: [{ column: 'module_id', op: '=', value: 'er-wait' }],
      });
      return rows.reduce((n, r) => n + r.count, 0) === expected;
    });
    await running.processor.stop();
    const report = await verifyModule(store as Store, 'er-wait');
    expect(report?.differences).toEqual([]);
    await store.stop();
    const rows = await storedEventRows(join(dir, 'store.duckdb'), 'er-wait');
    expect(rows.size).toBe(expected);
    expect([...rows.values()].every((n) => n === 1)).toBe(true);
  });
});
