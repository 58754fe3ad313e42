import type { TableName } from '../../ports/tables.js';

/**
 * Where ClickHouse keeps a catalog table whose ReplacingMergeTree winner changed (migration 0003).
 * The version column is fixed when a table is created, and rebuilding a table in place (copy,
 * rename, drop) is neither atomic nor safe when two processes migrate at once: a second process
 * renames the new table away or copies from a dropped one. So such a table lives under a new name,
 * created with IF NOT EXISTS and filled from the old one by a copy that can run any number of times
 * (a copied row collapses with itself, and any row written since is newer and wins). The old table
 * stays, unread.
 */
const renamed: Partial<Record<TableName, string>> = {
  // The newest row of a bucket wins (updated_ms), no longer the fullest (count).
  rollups: 'rollups_by_time',
  // The newest publication of an asOf wins (published_ms).
  performance_updates: 'performance_updates_by_time',
};

/** The ClickHouse table that holds catalog table `table`. */
export function physicalTable(table: TableName): string {
  return renamed[table] ?? table;
}
