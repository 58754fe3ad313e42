import { randomBytes } from 'node:crypto';
import { createClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ClickHouseStore } from '../../services/adapters/clickhouse/index.js';
import { windowGeometry } from '../../services/core/performance/index.js';
import { groundTruthOf } from '../../services/ports/ground-truth.js';
import { verifyModule } from '../../services/processor/commands.js';
import {
  eventsSql,
  geometryWindows,
  type Loaded,
  measured,
  storeEngineRows,
} from '../support/ground-truth-fixture.js';
import { killLeftovers, runGlasshouse } from '../support/process.js';
import { testLogger } from '../support/store-setups.js';

const million = 1_000_000;
const database = `ground_truth_${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
let store: ClickHouseStore;
let loaded: Loaded;

/** Plain SQL on the test's database (the bulk insert, the drop). */
async function command(query: string, db = database): Promise<void> {
  const client = createClient({ url: inject('clickhouseUrl'), database: db });
  try {
    await client.command({ query });
  } finally {
    await client.close();
  }
}

beforeAll(async () => {
  store = new ClickHouseStore({ url: inject('clickhouseUrl'), database, logger: testLogger });
  await store.start();
  await store.migrate();
  const started = Date.now();
  await command(eventsSql('clickhouse', 'er-million', million));
  const insertMs = Date.now() - started;
  loaded = await storeEngineRows(store, 'er-million', million);
  process.stdout.write(
    `clickhouse: ${million} events inserted in ${insertMs} ms (${loaded.late} late); engine rows (${loaded.rollups}) in ${loaded.ms} ms\n`,
  );
});

afterAll(async () => {
  await killLeftovers();
  await store?.stop();
  await command(`DROP DATABASE IF EXISTS ${database}`, 'default');
});

describe('ground truth in ClickHouse SQL', () => {
  it('cuts windows into the same buckets as the engine', async () => {
    const truth = groundTruthOf(store);
    for (const windowMs of geometryWindows) {
      const { widthMs, buckets } = windowGeometry(windowMs);
      expect({ windowMs, ...(await truth.bucketGeometry(windowMs)) }).toEqual({ windowMs, widthMs, buckets });
    }
  });

  it('agrees with a million events in bounded memory, and names an altered rollup bucket', async () => {
    const run = await measured(() => verifyModule(store, 'er-million'));
    process.stdout.write(
      `clickhouse: verified ${million} events in ${run.ms.toFixed(0)} ms, heap growth ${run.heapGrowthMb.toFixed(1)} MiB, peak rss ${run.rssMb.toFixed(0)} MiB\n`,
    );
    expect(run.result?.differences).toEqual([]);
    expect(run.result).toMatchObject({ events: million, rollups: loaded.rollups, updates: 4, total: 0 });
    // Holding the rows would take far more: a million events are well over 100 MB as JS objects.
    expect(run.heapGrowthMb).toBeLessThan(100);

    // A newer version (greater count) of one 24-minute bucket of the max constraint.
    const target = [...loaded.rows.values()].find((r) => r.rule_id === 'peak' && r.count > 100_000)!;
    await store.insert('rollups', [{ ...target, count: target.count + 1, max: target.max + 1 }]);
    const altered = runGlasshouse(['verify-rollups', '--module', 'er-million'], {
      GLASSHOUSE_CLICKHOUSE_URL: inject('clickhouseUrl'),
      GLASSHOUSE_CLICKHOUSE_DATABASE: database,
    });
    expect(await altered.exited()).toBe(1);
    expect(altered.output()).toContain('er-million: 1000000 raw events');
    const bucket = new Date(target.bucket_ms).toISOString();
    expect(altered.output()).toContain(
      `DIFF peak bucket ${bucket} count: expected ${target.count}, stored ${target.count + 1}`,
    );
    expect(altered.output()).toContain(
      `DIFF peak bucket ${bucket} max: expected ${target.max}, stored ${target.max + 1}`,
    );
    expect(altered.output()).toContain('2 differences');
  });
});
