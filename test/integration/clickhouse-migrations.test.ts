import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { ClickHouseStore } from '../../services/adapters/clickhouse/index.js';
import { loadMigrations } from '../../services/adapters/sql/migrations.js';
import { tables } from '../../services/ports/tables.js';

const url = inject('clickhouseUrl');
const migrationsDir = new URL('../../infra/clickhouse/migrations/', import.meta.url);
const databases: string[] = [];

async function query(database: string, sql: string): Promise<string> {
  const res = await fetch(`${url}/?database=${database}`, { method: 'POST', body: sql });
  const text = await res.text();
  if (!res.ok) throw new Error(text);
  return text;
}

function newDatabase(label: string): string {
  const database = `gh_migrate_${label}_${randomBytes(4).toString('hex')}`;
  databases.push(database);
  return database;
}

/** `count` stores, each started on `database` (as replicas starting together would be). */
async function stores(database: string, count: number): Promise<ClickHouseStore[]> {
  const list = Array.from({ length: count }, () => new ClickHouseStore({ url, database }));
  await Promise.all(list.map((s) => s.start()));
  return list;
}

/**
 * A database as a release before corrections left it: the migrations before 0003 applied (by their
 * files, recorded as the adapter records them), nothing else.
 */
async function migrateBefore(database: string, id: string): Promise<void> {
  await query('default', `CREATE DATABASE ${database}`);
  await query(
    database,
    'CREATE TABLE schema_migrations (id String, checksum String, applied_ms Int64) ENGINE = ReplacingMergeTree ORDER BY id',
  );
  for (const m of (await loadMigrations(migrationsDir)).filter((m) => m.id < id)) {
    for (const statement of m.statements) await query(database, statement);
    await query(database, `INSERT INTO schema_migrations VALUES ('${m.id}', '${m.checksum}', 1)`);
  }
}

afterAll(async () => {
  for (const database of databases) await query('default', `DROP DATABASE IF EXISTS ${database}`);
});

describe('ClickHouse migrations run twice and by several processes at once', () => {
  it('creates the schema when four stores migrate an empty database together', async () => {
    for (let round = 0; round < 3; round++) {
      const database = newDatabase('fresh');
      const list = await stores(database, 4);
      try {
        const reports = await Promise.all(list.map((s) => s.migrate()));
        const ids = (await loadMigrations(migrationsDir)).map((m) => m.id);
        for (const report of reports) expect(report.current).toEqual(ids);
        for (const table of Object.keys(tables) as Array<keyof typeof tables>) {
          const names = (await list[0]!.columns(table)).map((c) => c.name);
          const catalog = Object.keys(tables[table].columns);
          expect(names.slice(0, catalog.length), table).toEqual(catalog);
        }
        expect((await list[1]!.migrate()).applied).toEqual([]);
      } finally {
        await Promise.all(list.map((s) => s.stop()));
      }
    }
  });

  it('moves a database from before corrections to the newest-row winners, again and concurrently, losing nothing written since', async () => {
    const database = newDatabase('upgrade');
    await migrateBefore(database, '0003');
    // A bucket written twice before corrections: the fullest row (count 5) was the winner, though
    // a less complete one was written later.
    await query(
      database,
      'INSERT INTO rollups (module_id, rule_id, metric, width_ms, bucket_ms, module_version, count, sum, min, max, ' +
        "last_value, last_ms, last_event_id, sketch, updated_ms, bucket_at) VALUES ('bus', 'ontime', 'm', 60000, " +
        "1700000040000, 1, 5, 50, 1, 20, 20, 1700000059000, 'e5', '', 100, toDateTime(1700000040)), ('bus', 'ontime', " +
        "'m', 60000, 1700000040000, 1, 3, 30, 1, 20, 20, 1700000059000, 'e3', '', 200, toDateTime(1700000040))",
    );
    await query(
      database,
      'INSERT INTO performance_updates (module_id, goal_id, as_of_ms, module_version, status, value, body, as_of_at) ' +
        "VALUES ('bus', 'ontime', 1700000060000, 1, 'on_track', 10, '{}', toDateTime(1700000060))",
    );
    await query(
      database,
      'INSERT INTO metric_events (module_id, agency_id, event_id, metric, value, observed_ms, received_ms, ' +
        "dimensions, late, module_version, observed_at) VALUES ('bus', 'a', 'e1', 'm', 1.5, 1700000041000, " +
        "1700000041000, '{}', 0, 1, toDateTime(1700000041))",
    );

    const list = await stores(database, 3);
    try {
      const reports = await Promise.all(list.map((s) => s.migrate()));
      for (const report of reports) expect(report.current).toContain('0003_corrections');
      const [store] = list as [ClickHouseStore];
      expect((await store.select('rollups')).map((r) => [r.count, r.updated_ms])).toEqual([[5, 100]]);
      expect((await store.select('performance_updates')).map((r) => r.published_ms)).toEqual([
        1_700_000_060_000,
      ]);
      expect(await store.select('metric_events')).toMatchObject([
        { event_id: 'e1', value: 1.5, supersedes: '', retract: false, note: '' },
      ]);

      // Written after the upgrade: a correction took events out of the bucket.
      const [bucket] = await store.select('rollups');
      await store.insert('rollups', [{ ...bucket!, count: 2, sum: 20, updated_ms: 300 }]);
      await store.insert('performance_updates', [
        { ...(await store.select('performance_updates'))[0]!, value: 7, published_ms: 1_700_000_090_000 },
      ]);

      // A replica that read schema_migrations before the record landed runs every statement again.
      await query(database, 'DROP TABLE schema_migrations');
      await query(
        database,
        'CREATE TABLE schema_migrations (id String, checksum String, applied_ms Int64) ENGINE = ReplacingMergeTree ORDER BY id',
      );
      for (const m of (await loadMigrations(migrationsDir)).filter((m) => m.id < '0003')) {
        await query(database, `INSERT INTO schema_migrations VALUES ('${m.id}', '${m.checksum}', 1)`);
      }
      const again = await Promise.all(list.map((s) => s.migrate()));
      for (const report of again) expect(report.current).toContain('0003_corrections');

      expect((await store.select('rollups')).map((r) => [r.count, r.updated_ms])).toEqual([[2, 300]]);
      expect((await store.select('performance_updates')).map((r) => r.value)).toEqual([7]);
      const columns = (await store.columns('metric_events')).map((c) => c.name);
      expect(columns.filter((c) => c === 'supersedes' || c === 'retract' || c === 'note')).toEqual([
        'supersedes',
        'retract',
        'note',
      ]);
      expect((await store.migrate()).applied).toEqual([]);
    } finally {
      await Promise.all(list.map((s) => s.stop()));
    }
  });
});
