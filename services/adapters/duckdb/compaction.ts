import type { DuckDBConnection } from '@duckdb/node-api';
import { type TableName, tables } from '../../ports/tables.js';
import { sqlIdentifier, tableSpec } from '../sql/identifiers.js';

/**
 * Compaction: DuckDB's counterpart of ClickHouse's background merges for versioned tables.
 *
 * Tables are append-only and a read keeps the winning version of each key (store.ts), so every
 * new version of a rollup bucket adds a row that no read returns once a fuller one exists: about
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

/** The `ORDER BY` that puts the winning row of a key first (also used by reads). */
export function winnerOrder(table: TableName): string {
  const spec = tableSpec(table);
  if (!spec.version) return '';
  const newest = 'updated_ms' in spec.columns ? ', "updated_ms" DESC' : '';
  return `ORDER BY ${sqlIdentifier(spec.version, 'duckdb')} DESC${newest}`;
}

/** Deletes the superseded rows of `table`; resolves with how many went. */
export async function compactDuckDb(
  c: DuckDBConnection,
  table: TableName,
  inMemory: boolean,
): Promise<number> {
  const spec = tableSpec(table);
  const key = spec.key.map((k) => sqlIdentifier(k, 'duckdb')).join(', ');
  const lastWritten =
    'updated_ms' in spec.columns
      ? `, row_number() OVER (PARTITION BY ${key} ORDER BY "updated_ms" DESC) AS by_time`
      : ', 2 AS by_time';
  const result = await c.run(
    `DELETE FROM ${table} WHERE rowid IN (SELECT rowid FROM (SELECT rowid, ` +
      `row_number() OVER (PARTITION BY ${key} ${winnerOrder(table)}) AS by_version${lastWritten} ` +
      `FROM ${table}) WHERE by_version > 1 AND by_time > 1)`,
  );
  const rows = Number(result.rowsChanged);
  if (rows > 0 && !inMemory) await c.run('CHECKPOINT');
  return rows;
}

/**
 * When to compact: once a table has received as many rows since its last pass as it held after
 * that pass (at least `minRows`). The table then never holds more than about twice its live rows
 * plus `minRows`, and each row is rewritten a bounded number of times on average (amortised, as
 * in a log-structured merge).
 */
export class CompactionSchedule {
  private readonly inserted = new Map<TableName, number>();
  private readonly heldAfterPass = new Map<TableName, number>();

  constructor(private readonly minRows = 100_000) {}

  /** Notes `rows` inserted into `table`; true when a pass is due. */
  noteInserted(table: TableName, rows: number): boolean {
    if (!compactedTables.includes(table)) return false;
    const inserted = (this.inserted.get(table) ?? 0) + rows;
    this.inserted.set(table, inserted);
    return inserted >= Math.max(this.minRows, this.heldAfterPass.get(table) ?? 0);
  }

  /** Notes a finished pass and the rows the table holds after it. */
  notePass(table: TableName, held: number): void {
    this.inserted.set(table, 0);
    this.heldAfterPass.set(table, held);
  }
}
