import type { DuckDBConnection } from '@duckdb/node-api';
import { type ExpiringTable, type Expiry, expiryTimes } from '../../ports/retention.js';
import { sqlIdentifier } from '../sql/identifiers.js';
import { sqlNumber } from '../sql/literals.js';

/**
 * Deletes every row older than `beforeMs` by the table's expiry time (closed alerts: all versions
 * of an alert whose newest version is resolved and older). Runs on the store's one connection, in
 * its own implicit transaction.
 *
 * DuckDB only marks deleted rows; a checkpoint rewrites the row groups that hold them and returns
 * the freed blocks to the file's free list, where later inserts reuse them. The file does not
 * shrink, but it stops growing once a retention's worth of data is stored. So a delete that removed
 * anything is followed by a CHECKPOINT (file databases only).
 */
export async function expireDuckDb(
  c: DuckDBConnection,
  table: ExpiringTable,
  beforeMs: number,
  inMemory: boolean,
): Promise<Expiry> {
  const before = sqlNumber(beforeMs, 'duckdb');
  const where =
    table === 'alerts'
      ? 'alert_id IN (SELECT alert_id FROM alerts GROUP BY alert_id ' +
        `HAVING arg_max(state, version) = 'resolved' AND max(updated_ms) < ${before})`
      : `${sqlIdentifier(expiryTimes[table], 'duckdb')} < ${before}`;
  const result = await c.run(`DELETE FROM ${table} WHERE ${where}`);
  const rows = Number(result.rowsChanged);
  if (rows > 0 && !inMemory) await c.run('CHECKPOINT');
  return { table, beforeMs, rows, partitions: [] };
}
