import type { DuckDBConnection } from '@duckdb/node-api';
import { type TableName, tables } from '../../ports/tables.js';
import { sqlIdentifier, tableSpec } from '../sql/identifiers.js';
import { sqlNumber } from '../sql/literals.js';
import { winnerColumns, writtenColumn } from '../sql/versions.js';

/**
 * Compaction: DuckDB's counterpart of ClickHouse's background merges for versioned tables.
 *
 * Tables are append-only and a read keeps the winning version of each key (store.ts), so every
 * new version of a rollup bucket adds a row that no read returns once a newer one exists: about
 * forty a day for a busy count bucket. Left alone, the file, DuckDB's buffer cache and every read
 * that ranks a module's rows grow with time instead of with the data. ClickHouse's
 * ReplacingMergeTree drops superseded rows when it merges parts; here a pass deletes them.
 *
 * A pass keeps, per key, the row a read returns (greatest version, newest `updated_ms` on a tie)
 * and the row written last (greatest `updated_ms`): restore takes a module's coverage from the
 * newest `updated_ms` over all its rows (processor/restore.ts), and that must not move back.
 * Everything else of the key is superseded for every reader. Then a CHECKPOINT, so the space of
 * the deleted rows is reused by later inserts (as retention does).
 */

/** The tables a pass compacts: those whose rows of one key differ, one version winning. */
export const compactedTables = (Object.keys(tables) as TableName[]).filter((t) => tableSpec(t).version);

/** The `ORDER BY` that puts the winning row of a key first (reads pick the same row: store.ts). */
export function winnerOrder(table: TableName): string {
  const ranking = winnerColumns(table).map((c) => `${sqlIdentifier(c, 'duckdb')} DESC`);
  return ranking.length > 0 ? `ORDER BY ${ranking.join(', ')}` : '';
}

/** What a pass did; `since` is where the next pass of the table starts looking. */
export interface CompactionPass {
  removed: number;
  /** Rows the table holds after the pass. */
  rows: number;
  /** The greatest write time (`writtenColumn`) when the pass began (tables without one: undefined, every pass full). */
  since: number | undefined;
}

/**
 * Deletes the superseded rows of `table`. With `since`, only keys written at or after it (by
 * `writtenColumn`) are ranked: older keys were compacted by an earlier pass, and a key written
 * again (a correction restating an old bucket too) is written at a later time, so a pass costs what was written since the last one plus a scan of the key
 * columns, not a re-rank of years of rollups. A row written late with an older write time (a
 * writer whose clock lags) is left for the next pass that touches its key; it costs space, never
 * a wrong read.
 */
export async function compactDuckDb(
  c: DuckDBConnection,
  table: TableName,
  since: number | undefined,
  inMemory: boolean,
): Promise<CompactionPass> {
  const spec = tableSpec(table);
  const written = writtenColumn(table);
  const key = spec.key.map((k) => sqlIdentifier(k, 'duckdb')).join(', ');
  const next = written
    ? Number(
        (await c.runAndReadAll(`SELECT max("${written}") AS m FROM ${table}`)).getRowObjectsJS()[0]?.m ?? 0,
      )
    : undefined;
  const touched =
    written && since !== undefined
      ? ` WHERE (${key}) IN (SELECT ${key} FROM ${table} WHERE "${written}" >= ${sqlNumber(since, 'duckdb')})`
      : '';
  const lastWritten = written
    ? `, row_number() OVER (PARTITION BY ${key} ORDER BY "${written}" DESC) AS by_time`
    : ', 2 AS by_time';
  const result = await c.run(
    `DELETE FROM ${table} WHERE rowid IN (SELECT rowid FROM (SELECT rowid, ` +
      `row_number() OVER (PARTITION BY ${key} ${winnerOrder(table)}) AS by_version${lastWritten} ` +
      `FROM ${table}${touched}) WHERE by_version > 1 AND by_time > 1)`,
  );
  const removed = Number(result.rowsChanged);
  if (removed > 0 && !inMemory) await c.run('CHECKPOINT');
  const held = (await c.runAndReadAll(`SELECT count(*) AS n FROM ${table}`)).getRowObjectsJS();
  return { removed, rows: Number(held[0]?.n ?? 0), since: next };
}

/**
 * When to compact: every `everyRows` rows a table receives, starting from where its last pass
 * looked (the first pass of a process looks at the whole table). Between passes a table holds at
 * most its live rows, one extra per key, and `everyRows` superseded ones.
 */
export class CompactionSchedule {
  private readonly inserted = new Map<TableName, number>();
  private readonly since = new Map<TableName, number | undefined>();

  constructor(private readonly everyRows = 200_000) {}

  /** Notes `rows` inserted into `table`; true when a pass is due. */
  noteInserted(table: TableName, rows: number): boolean {
    if (!compactedTables.includes(table)) return false;
    const inserted = (this.inserted.get(table) ?? 0) + rows;
    this.inserted.set(table, inserted);
    return inserted >= this.everyRows;
  }

  /** Where the next pass of `table` starts (undefined: the whole table). */
  sinceOf(table: TableName): number | undefined {
    return this.since.get(table);
  }

  /** Notes a finished pass. */
  notePass(table: TableName, pass: CompactionPass): void {
    this.inserted.set(table, 0);
    this.since.set(table, pass.since);
  }
}
