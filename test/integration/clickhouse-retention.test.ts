import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ClickHouseStore } from '../../services/adapters/clickhouse/index.js';
import { physicalTable } from '../../services/adapters/clickhouse/tables.js';
import type { TableName } from '../../services/ports/tables.js';
import { sampleRows } from '../contract/store-fixtures.js';

const url = inject('clickhouseUrl');
// Its own database: system.parts then lists only this test's partitions.
const database = `gh_retention_${process.pid}_${Date.now().toString(36)}`;

async function activePartitions(table: TableName): Promise<string[]> {
  const sql =
    `SELECT DISTINCT partition_id FROM system.parts WHERE database = '${database}' ` +
    `AND table = '${physicalTable(table)}' AND active ORDER BY partition_id FORMAT TabSeparated`;
  const res = await fetch(url, { method: 'POST', body: sql });
  const text = await res.text();
  if (!res.ok) throw new Error(text);
  return text.split('\n').filter(Boolean);
}

// Mid-month times, so the months are the same in any server time zone.
const april = Date.UTC(1973, 3, 10);
const earlyMay = Date.UTC(1973, 4, 3);
const lateMay = Date.UTC(1973, 4, 27);
const cutoff = Date.UTC(1973, 4, 20);

describe('ClickHouse retention by partition', () => {
  let store: ClickHouseStore;
  beforeAll(async () => {
    store = new ClickHouseStore({ url, database });
    await store.start();
    await store.migrate();
  });
  afterAll(async () => {
    await store?.stop();
    await fetch(url, { method: 'POST', body: `DROP DATABASE IF EXISTS ${database}` });
  });

  it('drops only partitions wholly older than the cutoff, keeping one that straddles it', async () => {
    const [event] = sampleRows('m').metric_events;
    await store.insert(
      'metric_events',
      [april, april + 1, earlyMay, lateMay].map((t, i) => ({ ...event!, event_id: `e${i}`, observed_ms: t })),
    );
    expect(await activePartitions('metric_events')).toEqual(['197304', '197305']);

    const expiry = await store.expire('metric_events', cutoff);

    expect(expiry).toEqual({ table: 'metric_events', beforeMs: cutoff, rows: 2, partitions: ['197304'] });
    expect(await activePartitions('metric_events')).toEqual(['197305']);
    // May straddles the cutoff: its early row is older than the cutoff and still kept (at most a month).
    const kept = await store.select('metric_events', { orderBy: [{ column: 'observed_ms' }] });
    expect(kept.map((r) => r.observed_ms)).toEqual([earlyMay, lateMay]);

    // Once May has wholly passed the cutoff, it goes too.
    const later = await store.expire('metric_events', Date.UTC(1973, 5, 5));
    expect(later).toMatchObject({ rows: 2, partitions: ['197305'] });
    expect(await activePartitions('metric_events')).toEqual([]);
    expect(await store.select('metric_events')).toEqual([]);
  });

  it('drops rollup and update partitions by bucket and as-of time', async () => {
    const rows = sampleRows('m');
    await store.insert(
      'rollups',
      [april, lateMay].map((t) => ({ ...rows.rollups[0]!, bucket_ms: t })),
    );
    await store.insert(
      'performance_updates',
      [april, lateMay].map((t) => ({ ...rows.performance_updates[0]!, as_of_ms: t })),
    );
    expect(await store.expire('rollups', cutoff)).toMatchObject({ rows: 1, partitions: ['197304'] });
    expect(await store.expire('performance_updates', cutoff)).toMatchObject({
      rows: 1,
      partitions: ['197304'],
    });
    expect(await activePartitions('rollups')).toEqual(['197305']);
    expect(await activePartitions('performance_updates')).toEqual(['197305']);
    expect((await store.select('rollups')).map((r) => r.bucket_ms)).toEqual([lateMay]);
  });
});
