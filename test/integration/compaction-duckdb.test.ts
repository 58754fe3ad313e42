import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckDbStore } from '../../services/adapters/duckdb/index.js';
import type { Row } from '../../services/ports/tables.js';
import { sampleRows } from '../contract/store-fixtures.js';

type Rollup = Row<'rollups'>;

describe('compaction of superseded versions on a DuckDB file', () => {
  let dir: string;
  let store: DuckDbStore;
  const base = sampleRows('cmp').rollups[0]!;
  const version = (bucket: number, count: number, updated: number, module = base.module_id): Rollup => ({
    ...base,
    module_id: module,
    bucket_ms: bucket,
    count,
    sum: count * 2,
    updated_ms: updated,
  });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'glasshouse-compaction-'));
    store = new DuckDbStore({ path: join(dir, 'store.duckdb'), compactAfterRows: 50 });
    await store.start();
    await store.migrate();
  });
  afterAll(async () => {
    await store?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps what every read sees: the winning row of each key and the last one written', async () => {
    const rows = [
      // bucket 1: three growing versions; only the newest stays.
      version(1_000, 1, 10),
      version(1_000, 2, 20),
      version(1_000, 3, 30),
      // bucket 2: a lower count written last (a correction took an event out): it wins, alone.
      version(2_000, 5, 10),
      version(2_000, 4, 40),
      version(2_000, 2, 5),
      // bucket 3: one row, untouched.
      version(3_000, 7, 15),
    ];
    await store.insert('rollups', rows);
    const before = await store.select('rollups', { orderBy: [{ column: 'bucket_ms' }] });
    const coverage = await store.maxPerGroup('rollups', 'module_id', 'updated_ms');

    expect(await store.compact('rollups')).toBe(4);

    expect(await store.select('rollups', { orderBy: [{ column: 'bucket_ms' }] })).toEqual(before);
    expect(before.map((r) => r.count)).toEqual([3, 4, 7]);
    expect(await store.maxPerGroup('rollups', 'module_id', 'updated_ms')).toEqual(coverage);
    const kept = await store.select('rollups', {
      allRows: true,
      orderBy: [{ column: 'bucket_ms' }, { column: 'updated_ms' }],
    });
    expect(kept.map((r) => [r.bucket_ms, r.count, r.updated_ms])).toEqual([
      [1_000, 3, 30],
      [2_000, 4, 40],
      [3_000, 7, 15],
    ]);
    expect(await store.compact('rollups')).toBe(0);
  });

  it('keeps the later of two writes of one version, in reads and compaction, whichever was inserted first', async () => {
    const write = (id: string, version: number, updated: number) => ({
      kind: 'agency',
      id,
      deleted: false,
      version,
      updated_ms: updated,
      body: { updated },
    });
    // The later write inserted first, and inserted last.
    for (const [id, order] of [
      ['tie-a', [9, 5]],
      ['tie-b', [5, 9]],
    ] as const)
      for (const updated of [...order, 20])
        await store.insert('registry_entities', [write(id, updated === 20 ? 3 : 4, updated)]);
    const read = () =>
      store.select('registry_entities', {
        where: [{ column: 'id', op: 'in', value: ['tie-a', 'tie-b'] }],
        orderBy: [{ column: 'id' }],
      });
    const winners = [write('tie-a', 4, 9), write('tie-b', 4, 9)];
    expect(await read()).toEqual(winners);
    await store.compact('registry_entities');
    expect(await read()).toEqual(winners);
  });

  it('compacts by itself once a table has received enough rows', async () => {
    const module = 'cmp-auto';
    // 60 versions of one bucket: past the 50 rows that make the first pass due.
    for (let n = 1; n <= 60; n++) await store.insert('rollups', [version(9_000, n, 100 + n, module)]);
    const where = [{ column: 'module_id', op: '=', value: module } as const];
    await expect
      .poll(async () => (await store.select('rollups', { where, allRows: true })).length)
      .toBeLessThan(60);
    const [winner] = await store.select('rollups', { where });
    expect(winner).toMatchObject({ count: 60, updated_ms: 160 });
  });

  it('ranks on a later pass only the keys written since the previous one', async () => {
    const later = new DuckDbStore({ path: join(dir, 'later.duckdb'), compactAfterRows: 1_000_000 });
    await later.start();
    try {
      await later.migrate();
      const x = (count: number, updated: number) => version(1_000, count, updated);
      const y = (count: number, updated: number) => version(2_000, count, updated);
      await later.insert('rollups', [x(1, 10), x(2, 20), y(1, 10), y(2, 15)]);
      expect(await later.compact('rollups')).toBe(2); // the first pass looks at everything
      // Bucket x gets a new version; bucket y, untouched since the pass, a stale one (a lagging clock).
      await later.insert('rollups', [x(3, 30), y(1, 5)]);
      expect(await later.compact('rollups')).toBe(1);
      const kept = await later.select('rollups', {
        allRows: true,
        orderBy: [{ column: 'bucket_ms' }, { column: 'updated_ms' }],
      });
      expect(kept.map((r) => [r.bucket_ms, r.count])).toEqual([
        [1_000, 3],
        [2_000, 1],
        [2_000, 2],
      ]);
      const read = await later.select('rollups', { orderBy: [{ column: 'bucket_ms' }] });
      expect(read.map((r) => r.count)).toEqual([3, 2]);
    } finally {
      await later.stop();
    }
  });
  it('keeps the newest publication of each asOf, ranking on a later pass only what was published since', async () => {
    const later = new DuckDbStore({ path: join(dir, 'updates.duckdb'), compactAfterRows: 1_000_000 });
    await later.start();
    try {
      await later.migrate();
      const template = sampleRows('cmp-updates').performance_updates[0]!;
      const update = (asOf: number, value: number, published: number) => ({
        ...template,
        as_of_ms: asOf,
        value,
        published_ms: published,
      });
      await later.insert('performance_updates', [
        update(1, 1, 10),
        update(1, 2, 20),
        update(2, 1, 10),
        update(2, 2, 15),
      ]);
      expect(await later.compact('performance_updates')).toBe(2);
      // asOf 1 is restated (a correction); asOf 2 gets a stale publication, left for a later pass.
      await later.insert('performance_updates', [update(1, 3, 30), update(2, 9, 5)]);
      expect(await later.compact('performance_updates')).toBe(1);
      const read = await later.select('performance_updates', { orderBy: [{ column: 'as_of_ms' }] });
      expect(read.map((r) => [r.as_of_ms, r.value])).toEqual([
        [1, 3],
        [2, 2],
      ]);
    } finally {
      await later.stop();
    }
  });
});
