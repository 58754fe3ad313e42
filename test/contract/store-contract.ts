import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MigrationReport, type Store, selectAll, selectColumns } from '../../services/ports/store.js';
import { type Row, type TableName, tables } from '../../services/ports/tables.js';
import { dailyContract } from './store-daily.js';
import { hostileStrings, prefixFilter, sampleRows, uniqueId } from './store-fixtures.js';
import { retentionContract } from './store-retention.js';

/** What each adapter's test file hands the shared suite. */
export interface StoreUnderTest {
  store: Store;
  /** The table's columns as the database has them, in order. */
  columns(table: string): Promise<Array<{ name: string; type: string }>>;
  /** Releases whatever the factory created (database, file). The store is already stopped. */
  cleanup(): Promise<void>;
}

const tableNames = Object.keys(tables) as TableName[];

/**
 * The one behavioural contract of the Store port, run against every adapter. `create` returns a
 * started store on an empty database that nothing else uses.
 */
export function storeContract(adapter: string, create: () => Promise<StoreUnderTest>): void {
  describe(`Store contract: ${adapter}`, () => {
    let subject: StoreUnderTest;
    let store: Store;
    let firstMigration: MigrationReport;

    beforeAll(async () => {
      subject = await create();
      store = subject.store;
      firstMigration = await store.migrate();
    });

    afterAll(async () => {
      await store?.stop();
      await subject?.cleanup();
    });

    it('is healthy once started', () => {
      expect(store.health().state).toBe('ok');
    });

    it('applies migrations once; a second run changes nothing', async () => {
      expect(firstMigration.applied.length).toBeGreaterThan(0);
      expect(firstMigration.current).toEqual(firstMigration.applied);
      const before = await Promise.all(tableNames.map((t) => subject.columns(t)));

      const second = await store.migrate();

      expect(second.applied).toEqual([]);
      expect(second.current).toEqual(firstMigration.current);
      const after = await Promise.all(tableNames.map((t) => subject.columns(t)));
      expect(after).toEqual(before);
      for (const [i, table] of tableNames.entries()) {
        const names = before[i]!.map((c) => c.name);
        const catalog = Object.keys(tables[table].columns);
        // The catalog's columns in order; ClickHouse may add its partition DateTime after them.
        expect(names.slice(0, catalog.length), table).toEqual(catalog);
      }
    });

    it.each(tableNames)('reads back exactly what was inserted into %s', async (table) => {
      const p = uniqueId('rt');
      const rows = sampleRows(p)[table] as Row<typeof table>[];
      await store.insert(table, rows);
      const back = await store.select(table, { where: prefixFilter(table, p) });
      expect(sortByKey(table, back)).toEqual(sortByKey(table, rows));
    });

    it('collapses a replayed row into one', async () => {
      const p = uniqueId('replay');
      const rows = sampleRows(p).metric_events;
      await store.insert('metric_events', rows);
      await store.insert('metric_events', rows);
      await store.insert('metric_events', [rows[0]!]);
      const back = await store.select('metric_events', { where: prefixFilter('metric_events', p) });
      expect(back).toHaveLength(rows.length);
    });

    it('reads every stored row of a key with allRows, conditions applied to each', async () => {
      const p = uniqueId('all');
      const [row] = sampleRows(p).audit_log;
      // One insert: one part in ClickHouse, which no background merge collapses on its own.
      await store.insert('audit_log', [row!, { ...row!, hash: 'e'.repeat(64) }]);
      const where = prefixFilter('audit_log', p);
      expect(await store.select('audit_log', { where })).toHaveLength(1);
      const every = await store.select('audit_log', { where, allRows: true, orderBy: [{ column: 'hash' }] });
      expect(every.map((r) => r.hash)).toEqual(['e'.repeat(64), 'f'.repeat(64)]);
      const one = await store.select('audit_log', {
        where: [...where, { column: 'hash', op: '=', value: 'f'.repeat(64) }],
        allRows: true,
      });
      expect(one).toHaveLength(1);
    });

    it('keeps the greatest version of a key, whatever the insert order', async () => {
      const p = uniqueId('ver');
      const base = { kind: 'agency', id: p, updated_ms: 1, body: {} };
      await store.insert('registry_entities', [{ ...base, version: 1, deleted: false, body: { v: 1 } }]);
      await store.insert('registry_entities', [{ ...base, version: 3, deleted: true, body: { v: 3 } }]);
      await store.insert('registry_entities', [{ ...base, version: 2, deleted: false, body: { v: 2 } }]);

      const all = await store.select('registry_entities', { where: [{ column: 'id', op: '=', value: p }] });
      expect(all).toEqual([{ ...base, version: 3, deleted: true, body: { v: 3 } }]);

      // A filter on a non-key column sees only the latest version: older versions that match must not leak.
      const live = await store.select('registry_entities', {
        where: [
          { column: 'id', op: '=', value: p },
          { column: 'deleted', op: '=', value: false },
        ],
      });
      expect(live).toEqual([]);
      const old = await store.select('registry_entities', {
        where: [
          { column: 'id', op: '=', value: p },
          { column: 'version', op: '<', value: 3 },
        ],
      });
      expect(old).toEqual([]);
    });

    it('reads some columns of the winning version, and each key once when only key columns are read', async () => {
      const p = uniqueId('narrow');
      const [template] = sampleRows(p).performance_updates;
      const version = (goal: string, ms: number, published: number, status: string) => ({
        ...template!,
        goal_id: goal,
        as_of_ms: 1_700_000_000_000 + ms,
        published_ms: published,
        status,
      });
      // Three versions of a@1000 (the newest publication wins: at_risk), two of a@2000, one of b@1000.
      await store.insert('performance_updates', [
        version('a', 1_000, 5, 'on_track'),
        version('a', 1_000, 9, 'at_risk'),
        version('a', 1_000, 7, 'off_track'),
        version('a', 2_000, 1, 'on_track'),
        version('a', 2_000, 2, 'on_track'),
        version('b', 1_000, 3, 'off_track'),
      ]);
      const inModule = { column: 'module_id', op: '=', value: p } as const;
      const keys = await selectColumns(store, 'performance_updates', ['goal_id', 'as_of_ms'], {
        where: [inModule, { column: 'as_of_ms', op: '>=', value: 1_700_000_000_000 }],
        orderBy: [{ column: 'goal_id' }, { column: 'as_of_ms' }],
      });
      expect(keys.map((r) => `${r.goal_id}@${r.as_of_ms - 1_700_000_000_000}`)).toEqual([
        'a@1000',
        'a@2000',
        'b@1000',
      ]);
      const newest = await selectColumns(store, 'performance_updates', ['goal_id', 'as_of_ms'], {
        where: [inModule],
        orderBy: [{ column: 'as_of_ms', direction: 'desc' }],
        firstPer: { columns: ['goal_id'] },
      });
      expect(newest.map((r) => `${r.goal_id}@${r.as_of_ms - 1_700_000_000_000}`).sort()).toEqual([
        'a@2000',
        'b@1000',
      ]);
      // A narrow read with a condition on a non-key column sees the winner's value only.
      const atRisk = await selectColumns(store, 'performance_updates', ['goal_id', 'status'], {
        where: [inModule, { column: 'status', op: '!=', value: 'on_track' }],
        orderBy: [{ column: 'goal_id' }],
      });
      expect(atRisk).toEqual([
        { goal_id: 'a', status: 'at_risk' },
        { goal_id: 'b', status: 'off_track' },
      ]);
    });

    it('keeps the newest rollup bucket (a correction may lower its count) and the latest dead-letter replay', async () => {
      const p = uniqueId('roll');
      const [bucket] = sampleRows(p).rollups;
      await store.insert('rollups', [{ ...bucket!, count: 7, sum: 70, updated_ms: 2_000 }]);
      await store.insert('rollups', [{ ...bucket!, count: 5, sum: 50, updated_ms: 3_000 }]);
      await store.insert('rollups', [{ ...bucket!, count: 9, sum: 90, updated_ms: 1_000 }]);
      const rollups = await store.select('rollups', { where: [{ column: 'module_id', op: '=', value: p }] });
      expect(rollups.map((r) => [r.count, r.sum])).toEqual([[5, 50]]);

      const [letter] = sampleRows(p).dead_letters;
      await store.insert('dead_letters', [{ ...letter!, replayed_ms: 1_700_000_000_123 }]);
      await store.insert('dead_letters', [letter!]);
      const letters = await store.select('dead_letters', {
        where: [
          { column: 'id', op: '=', value: letter!.id },
          { column: 'replayed_ms', op: '=', value: 0 },
        ],
      });
      expect(letters).toEqual([]);

      // A held correction: the decision (version 2) wins over the held row written again by a replay.
      const [held] = sampleRows(p).held_corrections;
      const decided = { ...held!, state: 'rejected', version: 2, decided_by: 'ada', decided_ms: 5 };
      await store.insert('held_corrections', [held!]);
      await store.insert('held_corrections', [decided]);
      await store.insert('held_corrections', [held!]);
      expect(
        await store.select('held_corrections', { where: [{ column: 'id', op: '=', value: held!.id }] }),
      ).toEqual([decided]);
    });

    it('counts distinct keys per group, each key once however many copies match', async () => {
      const p = uniqueId('count');
      const rows = sampleRows(p).metric_events;
      const correction = { ...rows[0]!, event_id: 'c0', agency_id: 'other', supersedes: 'e0' };
      await store.insert('metric_events', [...rows, correction]);
      await store.insert('metric_events', [rows[1]!, correction]);
      const inModule = [{ column: 'module_id', op: '=', value: p } as const];
      expect(await store.countPerGroup('metric_events', 'agency_id', inModule)).toEqual(
        new Map([
          ['agency', 3],
          ['other', 1],
        ]),
      );
      expect(
        await store.countPerGroup('metric_events', 'agency_id', [
          ...inModule,
          { column: 'supersedes', op: '!=', value: '' },
        ]),
      ).toEqual(new Map([['other', 1]]));
      expect(
        await store.countPerGroup('metric_events', 'agency_id', [
          ...inModule,
          { column: 'received_ms', op: '>', value: 2_000_000_000_000 },
        ]),
      ).toEqual(new Map());
    });

    it('orders and limits after dedup', async () => {
      const p = uniqueId('order');
      const values = [5, -1, 3.5, 12, 0];
      const rows = values.map((value, i) => ({
        ...sampleRows(p).metric_events[0]!,
        event_id: `e${i}`,
        value,
      }));
      await store.insert('metric_events', [...rows, ...rows]);
      const where = prefixFilter('metric_events', p);

      const top = await store.select('metric_events', {
        where,
        orderBy: [{ column: 'value', direction: 'desc' }],
        limit: 2,
      });
      expect(top.map((r) => r.value)).toEqual([12, 5]);
      const asc = await store.select('metric_events', { where, orderBy: [{ column: 'value' }] });
      expect(asc.map((r) => r.value)).toEqual([-1, 0, 3.5, 5, 12]);
      const none = await store.select('metric_events', { where, limit: 0 });
      expect(none).toEqual([]);
      const some = await store.select('metric_events', {
        where: [...where, { column: 'event_id', op: 'in', value: ['e1', 'e3', 'nope'] }],
        orderBy: [{ column: 'event_id', direction: 'desc' }],
      });
      expect(some.map((r) => r.event_id)).toEqual(['e3', 'e1']);
      const range = await store.select('metric_events', {
        where: [...where, { column: 'value', op: '>=', value: 0 }, { column: 'value', op: '!=', value: 12 }],
        orderBy: [{ column: 'value' }],
      });
      expect(range.map((r) => r.value)).toEqual([0, 3.5, 5]);
    });

    it('pages with offset in a total order, so selectAll reads every row once', async () => {
      const p = uniqueId('page');
      const rows = Array.from({ length: 23 }, (_, i) => ({
        ...sampleRows(p).metric_events[0]!,
        event_id: `e${String(i).padStart(2, '0')}`,
        value: i % 4, // ties in the requested order: the key breaks them
      }));
      await store.insert('metric_events', [...rows, ...rows.slice(0, 5)]);
      const where = prefixFilter('metric_events', p);
      const second = await store.select('metric_events', {
        where,
        orderBy: [{ column: 'value' }],
        limit: 5,
        offset: 5,
      });
      const whole = await store.select('metric_events', { where, orderBy: [{ column: 'value' }] });
      expect(second).toEqual(whole.slice(5, 10));
      const paged = await selectAll(store, 'metric_events', { where, orderBy: [{ column: 'value' }] }, 4);
      expect(paged).toEqual(whole);
      expect(new Set(paged.map((r) => r.event_id)).size).toBe(23);
      await expect(store.select('metric_events', { where, offset: -1 })).rejects.toThrow(/offset/);
    });

    it('answers the greatest value per group over every stored row', async () => {
      const p = uniqueId('max');
      const [bucket] = sampleRows(p).rollups;
      await store.insert('rollups', [
        { ...bucket!, count: 7, updated_ms: 100 },
        // A smaller version of the same bucket written later: dedup keeps count 7, the max sees 300.
        { ...bucket!, count: 5, updated_ms: 300 },
        { ...bucket!, bucket_ms: bucket!.bucket_ms + 60_000, updated_ms: 200 },
        { ...bucket!, module_id: `${p}-other`, updated_ms: 50 },
      ]);
      const max = await store.maxPerGroup('rollups', 'module_id', 'updated_ms', [
        { column: 'module_id', op: 'in', value: [p, `${p}-other`, `${p}-none`] },
      ]);
      expect(Object.fromEntries(max)).toEqual({ [p]: 300, [`${p}-other`]: 50 });
      const below = await store.maxPerGroup('rollups', 'module_id', 'updated_ms', [
        { column: 'module_id', op: '=', value: p },
        { column: 'updated_ms', op: '<', value: 250 },
      ]);
      expect(Object.fromEntries(below)).toEqual({ [p]: 200 });
      await expect(store.maxPerGroup('rollups', 'module_id', 'sketch')).rejects.toThrow(/numeric/);
      await expect(store.maxPerGroup('rollups', 'nope', 'updated_ms')).rejects.toThrow();
    });

    it('keeps the first row per group and per slot, after dedup and conditions', async () => {
      const p = uniqueId('first');
      const [template] = sampleRows(p).performance_updates;
      const at = (goal: string, ms: number, status: string) => ({
        ...template!,
        goal_id: goal,
        as_of_ms: 1_700_000_000_000 + ms,
        status,
        value: ms / 1000,
      });
      const rows = [
        at('a', 1_000, 'no_data'),
        at('a', 1_500, 'on_track'),
        at('a', 2_500, 'on_track'),
        at('a', 3_100, 'at_risk'),
        at('a', 3_900, 'at_risk'),
        at('b', 1_200, 'on_track'),
        at('b', 9_000, 'off_track'),
      ];
      await store.insert('performance_updates', [...rows, ...rows]);
      const where = [
        { column: 'module_id', op: '=', value: p } as const,
        { column: 'status', op: '!=', value: 'no_data' } as const,
      ];
      const sampled = await store.select('performance_updates', {
        where,
        orderBy: [{ column: 'as_of_ms' }],
        firstPer: { columns: ['module_id', 'goal_id'], slot: { column: 'as_of_ms', width: 1_000 } },
      });
      expect(sampled.map((r) => `${r.goal_id}@${r.as_of_ms - 1_700_000_000_000}`)).toEqual(
        ['a@1500', 'b@1200', 'a@2500', 'a@3100', 'b@9000'].sort(
          (x, y) => Number(x.split('@')[1]) - Number(y.split('@')[1]),
        ),
      );
      const newest = await store.select('performance_updates', {
        where,
        orderBy: [{ column: 'as_of_ms', direction: 'desc' }],
        firstPer: { columns: ['goal_id'] },
      });
      expect(newest.map((r) => `${r.goal_id}@${r.as_of_ms - 1_700_000_000_000}`)).toEqual([
        'b@9000',
        'a@3900',
      ]);
      const paged = await selectAll(
        store,
        'performance_updates',
        {
          where,
          orderBy: [{ column: 'as_of_ms' }],
          firstPer: { columns: ['goal_id'], slot: { column: 'as_of_ms', width: 1_000 } },
        },
        2,
      );
      expect(paged).toEqual(sampled);
      const narrow = await selectColumns(store, 'performance_updates', ['goal_id', 'as_of_ms'], {
        where,
        orderBy: [{ column: 'as_of_ms', direction: 'desc' }],
        firstPer: { columns: ['goal_id'] },
      });
      expect(narrow).toEqual(newest.map((r) => ({ goal_id: r.goal_id, as_of_ms: r.as_of_ms })));
      await expect(store.select('performance_updates', { columns: ['nope'] })).rejects.toThrow();
      await expect(store.select('performance_updates', { columns: [] })).rejects.toThrow(/columns/);
      await expect(store.select('performance_updates', { firstPer: { columns: ['body'] } })).rejects.toThrow(
        /json/,
      );
      await expect(
        store.select('performance_updates', {
          firstPer: { columns: ['goal_id'], slot: { column: 'as_of_ms', width: 0 } },
        }),
      ).rejects.toThrow(/width/);
    });

    it('matches exact tuples with a tuple in, each key once', async () => {
      const p = uniqueId('tuple');
      const [template] = sampleRows(p).alerts;
      const version = (id: string, v: number) => ({ ...template!, alert_id: `${p}-${id}`, version: v });
      const rows = [version('a', 1), version('a', 2), version('b', 1), version('b', 2), version('c', 3)];
      await store.insert('alerts', rows);
      await store.insert('alerts', [version('a', 2)]); // a replay: still one row
      const wanted: Array<[string, number]> = [
        [`${p}-a`, 2],
        [`${p}-b`, 1],
        [`${p}-c`, 1], // no such version
      ];
      const back = await store.select('alerts', {
        where: [{ columns: ['alert_id', 'version'], op: 'in', value: wanted }],
      });
      // One `in` per column would also match (a, 1) and (b, 2).
      expect(back.map((r) => [r.alert_id, r.version])).toEqual([
        [`${p}-a`, 2],
        [`${p}-b`, 1],
      ]);
      const narrow = await selectColumns(store, 'alerts', ['alert_id', 'state'], {
        where: [
          { columns: ['alert_id', 'version'], op: 'in', value: wanted },
          { column: 'state', op: '=', value: template!.state },
        ],
      });
      expect(narrow).toHaveLength(2);
      // On a versioned table, with a tuple of only some key columns, after dedup.
      const [update] = sampleRows(p).performance_updates;
      const at = update!.as_of_ms;
      await store.insert('performance_updates', [
        { ...update!, goal_id: 'g1', as_of_ms: at + 10, published_ms: 1, value: 1 },
        { ...update!, goal_id: 'g1', as_of_ms: at + 10, published_ms: 2, value: 2 },
        { ...update!, goal_id: 'g2', as_of_ms: at + 20, published_ms: 1, value: 3 },
        { ...update!, goal_id: 'g2', as_of_ms: at + 10, published_ms: 1, value: 4 },
      ]);
      const updates = await store.select('performance_updates', {
        where: [
          { column: 'module_id', op: '=', value: update!.module_id },
          {
            columns: ['goal_id', 'as_of_ms'],
            op: 'in',
            value: [
              ['g1', at + 10],
              ['g2', at + 20],
            ],
          },
        ],
      });
      expect(updates.map((u) => [u.goal_id, u.value])).toEqual([
        ['g1', 2],
        ['g2', 3],
      ]);
    });

    it('rejects bad identifiers, operators and values before any SQL is sent', async () => {
      const bad: Array<Parameters<Store['select']>> = [
        ['metric_events', { where: [{ column: 'nope', op: '=', value: 1 }] }],
        ['metric_events', { where: [{ column: 'value; DROP TABLE metric_events', op: '=', value: 1 }] }],
        ['metric_events', { where: [{ column: 'Value', op: '=', value: 1 }] }],
        ['metric_events', { where: [{ column: 'value', op: 'LIKE' as '=', value: 1 }] }],
        ['metric_events', { where: [{ column: 'value', op: '=', value: 'text' }] }],
        ['metric_events', { where: [{ column: 'value', op: '=', value: Number.NaN }] }],
        ['metric_events', { where: [{ column: 'module_id', op: 'in', value: [] }] }],
        ['alerts', { where: [{ columns: ['alert_id', 'version'], op: 'in', value: [] }] }],
        ['alerts', { where: [{ columns: ['alert_id', 'version'], op: 'in', value: [['a']] }] }],
        ['alerts', { where: [{ columns: ['alert_id', 'version'], op: 'in', value: [[1, 'a']] }] }],
        ['alerts', { where: [{ columns: ['alert_id'], op: 'in', value: [['a']] }] }],
        ['alerts', { where: [{ columns: ['alert_id', 'body'], op: 'in', value: [['a', '{}']] }] }],
        ['alerts', { where: [{ columns: ['alert_id', 'nope'], op: 'in', value: [['a', 1]] }] }],
        ['alerts', { where: [{ columns: ['alert_id', 'version'], op: '=' as 'in', value: [['a', 1]] }] }],
        ['metric_events', { where: [{ column: 'dimensions', op: '=', value: '{}' }] }],
        ['metric_events', { orderBy: [{ column: 'observed_ms desc, (SELECT 1)' }] }],
        ['metric_events', { orderBy: [{ column: 'value', direction: 'sideways' as 'asc' }] }],
        ['metric_events', { limit: 100_001 }],
        ['metric_events', { limit: 1.5 }],
        ['nope' as TableName, {}],
        ['metric_events; DROP TABLE alerts' as TableName, {}],
      ];
      for (const args of bad) {
        await expect(store.select(...args), JSON.stringify(args)).rejects.toMatchObject({
          code: 'store_invalid_query',
          retriable: false,
        });
      }
      const [row] = sampleRows(uniqueId('bad')).metric_events;
      const badRows = [
        { ...row, extra: 1 },
        { ...row, value: Number.POSITIVE_INFINITY },
        { ...row, observed_ms: 1.5 },
        { ...row, module_version: -1 },
        { ...row, late: 'yes' },
        { ...row, module_id: 'lone \ud800 surrogate' },
      ];
      for (const bad of badRows) {
        await expect(store.insert('metric_events', [bad as never])).rejects.toMatchObject({
          code: 'store_invalid_row',
        });
      }
      const { module_id: _omitted, ...missing } = row!;
      await expect(store.insert('metric_events', [missing as never])).rejects.toMatchObject({
        code: 'store_invalid_row',
      });
      // Nothing above reached the server: the table is intact and still answers.
      await expect(store.select('alerts', { limit: 1 })).resolves.toBeInstanceOf(Array);
    });

    it('round-trips hostile strings, and finds rows by them', async () => {
      const p = uniqueId('hostile');
      const rows = hostileStrings.map((s, i) => ({
        ...sampleRows(p).metric_events[0]!,
        event_id: `e${String(i).padStart(2, '0')}`,
        metric: s,
        dimensions: { [s]: s },
      }));
      await store.insert('metric_events', rows);
      const where = prefixFilter('metric_events', p);
      const back = await store.select('metric_events', { where, orderBy: [{ column: 'event_id' }] });
      expect(back).toEqual(rows);

      for (const row of rows) {
        const found = await store.select('metric_events', {
          where: [...where, { column: 'metric', op: '=', value: row.metric }],
        });
        expect(
          found.map((r) => r.event_id),
          JSON.stringify(row.metric.slice(0, 40)),
        ).toEqual([row.event_id]);
      }
      const some = await store.select('metric_events', {
        where: [...where, { column: 'metric', op: 'in', value: hostileStrings.slice(0, 8) }],
      });
      expect(some).toHaveLength(8);
    });

    retentionContract(() => store);
    dailyContract(() => store);

    it('accepts an empty insert', async () => {
      await expect(store.insert('alerts', [])).resolves.toBeUndefined();
    });
  });
}

function sortByKey<T extends TableName>(table: T, rows: Row<T>[]): Row<T>[] {
  const key = tables[table].key as readonly string[];
  const text = (r: Row<T>) => JSON.stringify(key.map((k) => (r as Record<string, unknown>)[k]));
  return [...rows].sort((a, b) => (text(a) < text(b) ? -1 : text(a) > text(b) ? 1 : 0));
}
