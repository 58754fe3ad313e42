import type { ExpiringTable, Expiry } from '../../ports/retention.js';
import { StoreUnavailableError } from '../sql/errors.js';
import { sqlNumber, sqlString } from '../sql/literals.js';
import { physicalTable } from './tables.js';

/** What expiry needs from the store: reads (rows as JSON objects) and statements without rows. */
export interface ClickHouseStatements {
  rows<R>(sql: string): Promise<R[]>;
  command(doing: string, sql: string): Promise<void>;
}

/** How often and how long `expire('alerts')` waits for its mutation (18.16 has no mutations_sync). */
const mutationPollMs = 100;
const mutationTimeoutMs = 10 * 60_000;

/**
 * Expires rows without TTL (18.16 has none). metric_events, performance_updates and rollups are
 * partitioned by toYYYYMM of a DateTime filled from their expiry time (migration 0001), so a
 * table loses whole monthly partitions
 * whose month ends at or before `beforeMs` (in the server's time zone, as toYYYYMM reads it): a
 * partition straddling the cutoff stays until its month is entirely older, so a row is kept at
 * least the retention and at most one month longer. Dropping a partition rewrites nothing.
 * Alerts are not partitioned: closed alerts go by a DELETE mutation, awaited before returning.
 */
export async function expireClickHouse(
  sql: ClickHouseStatements,
  table: ExpiringTable,
  beforeMs: number,
): Promise<Expiry> {
  const cutoff = sqlNumber(Math.floor(beforeMs / 1000), 'clickhouse');
  if (table === 'alerts') return expireAlerts(sql, beforeMs);
  const physical = physicalTable(table);
  const parts = await sql.rows<{ partition_id: string; rows: string }>(
    'SELECT partition_id, sum(rows) AS rows FROM system.parts ' +
      `WHERE database = currentDatabase() AND table = ${sqlString(physical, 'clickhouse')} AND active ` +
      'GROUP BY partition_id ' +
      `HAVING toUInt32(toDateTime(addMonths(toStartOfMonth(min(min_time)), 1))) <= ${cutoff} ` +
      'ORDER BY partition_id',
  );
  const partitions: string[] = [];
  let rows = 0;
  for (const part of parts) {
    if (!/^\d{6}$/.test(part.partition_id)) continue; // not a toYYYYMM partition: never guess
    await sql.command(
      `dropping partition ${part.partition_id} of ${table}`,
      `ALTER TABLE ${physical} DROP PARTITION ID ${sqlString(part.partition_id, 'clickhouse')}`,
    );
    partitions.push(part.partition_id);
    rows += Number(part.rows);
  }
  return { table, beforeMs, rows, partitions };
}

async function expireAlerts(sql: ClickHouseStatements, beforeMs: number): Promise<Expiry> {
  const closed =
    'alert_id IN (SELECT alert_id FROM alerts GROUP BY alert_id ' +
    `HAVING argMax(state, version) = 'resolved' AND max(updated_ms) < ${sqlNumber(beforeMs, 'clickhouse')})`;
  const [count] = await sql.rows<{ rows: string }>(`SELECT count() AS rows FROM alerts WHERE ${closed}`);
  const rows = Number(count?.rows ?? 0);
  // A mutation rewrites every part of the table, so none is started for nothing.
  if (rows === 0) return { table: 'alerts', beforeMs, rows, partitions: [] };
  await sql.command('expiring closed alerts', `ALTER TABLE alerts DELETE WHERE ${closed}`);
  const deadline = Date.now() + mutationTimeoutMs;
  for (;;) {
    const [pending] = await sql.rows<{ n: string }>(
      "SELECT count() AS n FROM system.mutations WHERE database = currentDatabase() AND table = 'alerts' AND is_done = 0",
    );
    if (Number(pending?.n ?? 0) === 0) break;
    if (Date.now() > deadline)
      throw new StoreUnavailableError('expiring closed alerts: the DELETE mutation is still running');
    await new Promise((resolve) => setTimeout(resolve, mutationPollMs));
  }
  return { table: 'alerts', beforeMs, rows, partitions: [] };
}
