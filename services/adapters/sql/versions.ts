import type { TableName } from '../../ports/tables.js';
import { tableSpec } from './identifiers.js';

/**
 * The column holding when a row was written (the processing time of the batch or request that wrote
 * it), if the table has one: `updated_ms`, or `published_ms` for performance updates.
 */
export function writtenColumn(table: TableName): 'updated_ms' | 'published_ms' | undefined {
  const columns = tableSpec(table).columns;
  if ('updated_ms' in columns) return 'updated_ms';
  if ('published_ms' in columns) return 'published_ms';
  return undefined;
}

/**
 * The columns that pick the row a read returns among a key's rows, compared in order, greatest
 * first: the version, then the write time when it is another column (two writes of one version: the
 * later wins). Empty for a table without a version, whose rows of one key are identical replays.
 * ClickHouse's background merges compare the version alone and keep the row inserted last of equal
 * ones, so a writer gives one version one content (a retry writes the same row again).
 */
export function winnerColumns(table: TableName): string[] {
  const version = tableSpec(table).version;
  if (!version) return [];
  const written = writtenColumn(table);
  return written && written !== version ? [version, written] : [version];
}
