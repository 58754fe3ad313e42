import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckDbStore } from '../../services/adapters/duckdb/index.js';
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

const million = 1_000_000;
let dir: string;
let store: DuckDbStore;
let loaded: Loaded;

// The CLI opens the same file as the store does under GLASSHOUSE_DATA_DIR.
const openStore = async () => {
  const s = new DuckDbStore({ path: join(dir, 'glasshouse.duckdb') });
  await s.start();
  await s.migrate();
  return s;
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gh-ground-truth-'));
  store = await openStore();
  await store.stop();
  // The raw events in bulk, with the file closed by the store (one open instance per file).
  const started = Date.now();
  const raw = await DuckDBInstance.create(join(dir, 'glasshouse.duckdb'));
  const connection = await raw.connect();
  await connection.run(eventsSql('duckdb', 'er-million', million));
  connection.closeSync();
  raw.closeSync();
  const insertMs = Date.now() - started;
  store = await openStore();
  loaded = await storeEngineRows(store, 'er-million', million);
  process.stdout.write(
    `duckdb: ${million} events inserted in ${insertMs} ms (${loaded.late} late); engine rows (${loaded.rollups}) in ${loaded.ms} ms\n`,
  );
}, 120_000);

afterAll(async () => {
  await store.stop();
  await killLeftovers();
  await rm(dir, { recursive: true, force: true });
});

describe('ground truth in DuckDB SQL', () => {
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
      `duckdb: verified ${million} events in ${run.ms.toFixed(0)} ms, heap growth ${run.heapGrowthMb.toFixed(1)} MiB, peak rss ${run.rssMb.toFixed(0)} MiB\n`,
    );
    expect(run.result?.differences).toEqual([]);
    expect(run.result).toMatchObject({ events: million, rollups: loaded.rollups, updates: 4, total: 0 });
    // Holding the rows would take far more: a million events are well over 100 MB as JS objects.
    expect(run.heapGrowthMb).toBeLessThan(100);

    // A newer version (greater count) of one 24-minute bucket of the max constraint, one event short of truth.
    const target = [...loaded.rows.values()].find((r) => r.rule_id === 'peak' && r.count > 100_000)!;
    await store.insert('rollups', [{ ...target, count: target.count + 1, max: target.max + 1 }]);
    await store.stop();
    const altered = runGlasshouse(['verify-rollups', '--module', 'er-million'], { GLASSHOUSE_DATA_DIR: dir });
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
    store = await openStore();
  }, 120_000);
});
